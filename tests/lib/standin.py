"""standin: a stand-in for harmonyd's admin interface, for the dashboard's
Chromium tests (tests/integration/admin/t_dashboard_*.py) of what a real
harmonyd cannot be made to show at will (or does not have yet): a small
HTTP server on the http.server module that serves web/ and JSON cloned
from a real harmonyd's answers (templates()).

    tpl = templates()                  # one of each object, from a harmonyd
    srv = serve(model, Handler)        # Handler(StandIn): route(method, path, query, body)
    base = 'http://127.0.0.1:%d/' % srv.server_address[1]
    ...
    stop(srv)

A StandIn answers the web root's files itself, /api/v1/events as an event
stream (a snapshot from model.snapshot() every 250 ms, and whatever
model.subscribe()'s queue gets, as (event, data) pairs), and everything
else from route(): a (status, JSON) pair, or None for a 404. Every GET's
path is kept in model.gets, every write in model.writes.
"""

import http.server
import json
import os
import queue
import threading
import time
import urllib.parse

import harness as h
from adminhttp import Api, harmonyd, web_root

FILES = {'/': 'index.html', '/index.html': 'index.html', '/app.js': 'app.js',
         '/style.css': 'style.css', '/favicon.svg': 'favicon.svg'}
TYPES = {'html': 'text/html', 'js': 'text/javascript', 'css': 'text/css',
         'svg': 'image/svg+xml'}


def templates():
    """One target, persistence entry and service, a status and a config, as
    a real harmonyd writes them."""
    be = h.Backend('name', name='A')
    hd = harmonyd()
    api = Api(hd.http_port)
    api.register(be.port)
    h.name_of(hd.port, source='127.0.0.2')
    t = {
        'status': api.status(),
        'config': api.expect(200, 'GET', '/api/v1/config').json(),
        'target': api.targets()[0],
        'entry': api.persistence()['entries'][0],
        'service': api.expect(200, 'GET', '/api/v1/services').json()['services'][0],
    }
    hd.stop()
    be.terminate()
    return t


class Subscribers:
    """The open event streams' queues: publish() reaches each. A model
    may be one (its own lock is another)."""

    def __init__(self):
        self._qlock = threading.Lock()
        self.queues = []

    def subscribe(self):
        q = queue.Queue()
        with self._qlock:
            self.queues.append(q)
        return q

    def unsubscribe(self, q):
        with self._qlock:
            self.queues.remove(q)

    def publish(self, event, data):
        with self._qlock:
            for q in self.queues:
                q.put((event, data))

    def count(self):
        with self._qlock:
            return len(self.queues)


class StandIn(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def send(self, status, body=b'', ctype='application/json'):
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route(self, method, path, query, body):
        return None

    def answer(self, method, body=None):
        m = self.server.model
        u = urllib.parse.urlparse(self.path)
        with m.lock:
            (m.gets if method == 'GET' else m.writes).append(
                u.path if method == 'GET' else (method, u.path, body))
            r = self.route(method, u.path, urllib.parse.parse_qs(u.query), body)
        if r is None:
            return self.send(404, b'{"error": "no such route in the stand-in"}')
        status, obj = r
        if obj is None:
            return self.send(status)
        return self.send(status, json.dumps(obj).encode())

    def stream(self):
        m = self.server.model
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.send_header('Cache-Control', 'no-store')
        self.end_headers()
        q = m.subscribe()
        try:
            due = 0
            while not self.server.stopping.is_set():
                if time.monotonic() >= due:
                    self.wfile.write(b'event: snapshot\ndata: %s\n\n' % m.snapshot().encode())
                    self.wfile.flush()
                    due = time.monotonic() + 0.25
                try:
                    event, data = q.get(timeout=max(0.0, due - time.monotonic()))
                except queue.Empty:
                    continue
                self.wfile.write(b'event: %s\ndata: %s\n\n'
                                 % (event.encode(), json.dumps(data).encode()))
                self.wfile.flush()
        except OSError:
            pass
        finally:
            m.unsubscribe(q)
        self.close_connection = True

    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        if path in FILES:
            name = FILES[path]
            with open(os.path.join(web_root(), name), 'rb') as f:
                return self.send(200, f.read(), TYPES[name.rsplit('.', 1)[1]])
        if path == '/api/v1/events':
            return self.stream()
        return self.answer('GET')

    def body(self):
        return json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))) or b'null')

    def do_PATCH(self):
        return self.answer('PATCH', self.body())

    def do_POST(self):
        return self.answer('POST', self.body())

    def do_DELETE(self):
        return self.answer('DELETE')


def serve(model, handler):
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None  # a page gone mid-answer
    srv.model = model
    srv.stopping = threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def stop(srv):
    srv.stopping.set()
    srv.shutdown()
