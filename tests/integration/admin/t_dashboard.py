#!/usr/bin/env python3
"""The dashboard in real headless Chromium.

1. --dump-dom of the page, once its script has rendered (polling transport:
   an open event stream would stop Chromium's virtual clock), shows the
   three targets with their weights and states, and the persistence table.
2. Driven over the Chrome DevTools Protocol (a minimal websocket client on
   the socket module), live over SSE: a weight typed into the page's own
   input is refused without the token, accepted once the token is entered,
   and reaches the API; Drain, Pause/Resume and Forget work; at phone width
   nothing overflows; a screenshot is taken (DASHBOARD_PNG=path keeps it).

Skips (77) only if no Chromium is installed (Debian: apt-get install chromium).
"""

import base64
import hashlib
import html.parser
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import harness as h
from adminhttp import Api, harmonyd, web_root

TOKEN = 'dash-token-5f1c'
CHROME_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync',
                '--disable-dev-shm-usage', '--hide-scrollbars', '--mute-audio']


def find_chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'):
        path = shutil.which(name)
        if path:
            return path
    h.skip('Chromium is not installed (Debian: apt-get install chromium)')


# --- the dumped DOM ------------------------------------------------------

class DomRows(html.parser.HTMLParser):
    """Rows of #targets-body and #persistence-body, with their cell texts."""

    def __init__(self):
        super().__init__()
        self.targets, self.clients = {}, {}
        self.row, self.field = None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'tr' and 'data-target-id' in a and 'data-client' not in a:
            self.row = self.targets.setdefault(a['data-target-id'], dict(a))
        elif tag == 'tr' and 'data-client' in a:
            self.row = self.clients.setdefault(a['data-client'], dict(a))
        elif tag == 'td' and self.row is not None:
            self.field = a.get('data-field')
        elif tag == 'input' and self.row is not None and 'weight-input' in a.get('class', ''):
            self.row['input'] = a.get('value')

    def handle_endtag(self, tag):
        if tag == 'tr':
            self.row = None
        elif tag == 'td':
            self.field = None

    def handle_data(self, data):
        if self.row is not None and self.field:
            self.row[self.field] = self.row.get(self.field, '') + data


def dump_dom(chrome, url):
    udd = os.path.join(h.tmpdir(), 'chrome-dump')
    cmd = [chrome] + CHROME_FLAGS + ['--user-data-dir=' + udd, '--virtual-time-budget=8000',
                                     '--window-size=1280,900', '--dump-dom', url]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        h.fail('chromium --dump-dom did not finish within 120 s')
    h.check(p.returncode == 0, 'chromium --dump-dom exited %d: %s'
            % (p.returncode, p.stderr.decode(errors='replace')[-2000:]))
    return p.stdout.decode('utf-8', 'replace')


# --- a minimal websocket client and the DevTools protocol ------------------

class WebSocket:
    GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

    def __init__(self, url, timeout=30):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(('GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n'
                           'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
                           'Sec-WebSocket-Version: 13\r\n\r\n'
                           % (u.path, u.hostname, u.port, key)).encode())
        buf = b''
        while b'\r\n\r\n' not in buf:
            chunk = self.sock.recv(4096)
            h.check(chunk, 'DevTools closed the websocket handshake')
            buf += chunk
        head, _, self.buf = buf.partition(b'\r\n\r\n')
        h.check(head.split(b'\r\n')[0].split(b' ')[1] == b'101',
                'websocket handshake: %r' % head[:200])
        accept = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest())
        h.check(accept in head, 'bad Sec-WebSocket-Accept')

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            h.check(chunk, 'DevTools closed the websocket')
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _send_frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack('!H', n)
        else:
            head += bytes([0x80 | 127]) + struct.pack('!Q', n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def recv(self):
        message = b''
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7f
            if n == 126:
                n = struct.unpack('!H', self._read(2))[0]
            elif n == 127:
                n = struct.unpack('!Q', self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0f
            if opcode == 0x9:
                self._send_frame(0xa, payload)
                continue
            if opcode == 0x8:
                h.fail('DevTools closed the websocket')
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if b0 & 0x80:
                    return message.decode('utf-8')

    def close(self):
        try:
            self._send_frame(0x8, b'')
        except OSError:
            pass
        self.sock.close()


class Page:
    """One page over CDP."""

    def __init__(self, ws_url, timeout=60):
        self.ws = WebSocket(ws_url)
        self.ws.sock.settimeout(timeout)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({'id': mid, 'method': method, 'params': params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get('id') == mid:
                h.check('error' not in msg, '%s failed: %r' % (method, msg.get('error')))
                return msg.get('result', {})

    def eval(self, expr):
        r = self.call('Runtime.evaluate', expression=expr, returnByValue=True,
                      awaitPromise=True)
        h.check('exceptionDetails' not in r, 'script error in %r: %r'
                % (expr[:80], r.get('exceptionDetails')))
        return r['result'].get('value')

    def wait(self, expr, timeout=20, what=None):
        # The page may still be loading: an error is a "not yet".
        safe = '(() => { try { return !!(%s); } catch (e) { return false; } })()' % expr
        ok = h.wait_until(lambda: self.eval(safe), timeout, 0.1)
        h.check(ok, 'page: %s within %d s' % (what or expr, timeout))
        return ok

    def click(self, selector):
        pos = self.eval('(() => { const e = document.querySelector(%s); if (!e) return null;'
                        ' e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect();'
                        ' return [r.x + r.width / 2, r.y + r.height / 2]; })()'
                        % json.dumps(selector))
        h.check(pos is not None, 'no element %s on the page' % selector)
        for kind in ('mousePressed', 'mouseReleased'):
            self.call('Input.dispatchMouseEvent', type=kind, x=pos[0], y=pos[1],
                      button='left', clickCount=1)

    def type_into(self, selector, text):
        """Clicks the field, selects what is in it, types text, presses Enter."""
        self.click(selector)
        self.call('Input.dispatchKeyEvent', type='keyDown', key='a', code='KeyA',
                  windowsVirtualKeyCode=65, modifiers=2, commands=['selectAll'])
        self.call('Input.dispatchKeyEvent', type='keyUp', key='a', code='KeyA',
                  windowsVirtualKeyCode=65, modifiers=2)
        self.call('Input.insertText', text=text)
        self.call('Input.dispatchKeyEvent', type='keyDown', key='Enter', code='Enter',
                  windowsVirtualKeyCode=13, nativeVirtualKeyCode=13, text='\r')
        self.call('Input.dispatchKeyEvent', type='keyUp', key='Enter', code='Enter',
                  windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)

    def viewport(self, width, height, mobile=False):
        self.call('Emulation.setDeviceMetricsOverride', width=width, height=height,
                  deviceScaleFactor=1, mobile=mobile)

    def close(self):
        self.ws.close()


def start_chromium(chrome):
    udd = os.path.join(h.tmpdir(), 'chrome-cdp')
    os.makedirs(udd)
    proc = h.Proc('chromium', [chrome] + CHROME_FLAGS + [
        '--user-data-dir=' + udd, '--remote-debugging-port=0',
        '--window-size=1280,900', 'about:blank'])
    portfile = os.path.join(udd, 'DevToolsActivePort')
    h.check(h.wait_until(lambda: os.path.exists(portfile) and
                         open(portfile).read().count('\n') >= 1, 60),
            'chromium wrote no DevToolsActivePort within 60 s')
    port = int(open(portfile).read().split('\n')[0])
    targets = []

    def pages():
        try:
            with urllib.request.urlopen('http://127.0.0.1:%d/json/list' % port,
                                        timeout=10) as r:
                targets[:] = [t for t in json.load(r) if t.get('type') == 'page']
        except OSError:
            return False
        return bool(targets)
    h.check(h.wait_until(pages, 30), 'chromium shows no page over DevTools')
    return proc, Page(targets[0]['webSocketDebuggerUrl'])


# --- the scenario ----------------------------------------------------------

def traffic(hd, stop):
    i = 0
    while not stop.is_set():
        try:
            h.name_of(hd.port, source='127.0.0.%d' % (100 + i % 50), timeout=5)
        except OSError:
            pass
        i += 1
        time.sleep(0.03 + (i % 7) * 0.02)


def main():
    chrome = find_chromium()
    backends = [h.Backend('name', name=n) for n in 'ABC']
    hd = harmonyd('--token', TOKEN, '--web-root', web_root())
    api = Api(hd.http_port, token=TOKEN)
    ts = [api.register(be.port, weight=w) for be, w in zip(backends, (100, 250, 600))]
    clients = ['127.0.0.%d' % i for i in range(2, 8)]
    for c in clients:
        h.name_of(hd.port, source=c)
    base = 'http://127.0.0.1:%d/' % hd.http_port

    # 1. What the page shows, as Chromium renders it.
    dom = DomRows()
    dom.feed(dump_dom(chrome, base + '?transport=poll'))
    h.check(len(dom.targets) == 3, 'the page shows %d targets: %r'
            % (len(dom.targets), dom.targets))
    for t in ts:
        row = dom.targets.get(str(t['id']))
        h.check(row is not None, 'target %d not on the page' % t['id'])
        h.check(row.get('name', '').strip() == t['name'], 'row name %r' % row.get('name'))
        h.check(row.get('data-weight') == str(t['weight']) and
                row.get('input') == str(t['weight']), 'row weight %r' % row)
        h.check(row.get('data-state') == 'up' and row.get('state', '').strip() == 'up',
                'row state %r' % row)
    entries = api.persistence()['entries']
    h.check(set(dom.clients) == set(clients) == {e['client'] for e in entries},
            'persistence rows %r' % sorted(dom.clients))
    for e in entries:
        h.check(dom.clients[e['client']].get('data-target-id') == str(e['target']),
                'persistence row of %s' % e['client'])

    # 2. Live, driven like a person would.
    proc, page = start_chromium(chrome)
    try:
        page.viewport(1280, 900)
        page.call('Page.navigate', url=base)
        page.wait('document.body.dataset.loaded === "yes" && '
                  'document.getElementById("conn-status").dataset.mode === "live" && '
                  'document.querySelectorAll("#targets-body tr").length === 3',
                  30, 'the live page with 3 targets')
        tid = ts[1]['id']
        page.type_into('#weight-%d' % tid, '777')
        page.wait('document.getElementById("notice").dataset.kind === "error" && '
                  '!document.getElementById("notice").hidden', 10,
                  'an error notice for a write without the token')
        h.check(api.target(tid)['weight'] == 250, 'a write without the token went through')

        page.type_into('#token-input', TOKEN)
        page.wait('document.getElementById("token-status").dataset.set === "yes"', 10,
                  'the token taken')
        page.type_into('#weight-%d' % tid, '777')
        h.check(h.wait_until(lambda: api.target(tid)['weight'] == 777, 10),
                'the weight typed into the page did not reach the API')
        page.wait('document.querySelector(\'tr[data-target-id="%d"]\').dataset.weight'
                  ' === "777"' % tid, 10, 'the new weight shown')

        drained = ts[2]['id']
        page.click('button[data-action="drain"][data-target-id="%d"]' % drained)
        h.check(h.wait_until(lambda: api.target(drained)['state'] == 'draining', 10),
                'Drain did not reach the API')
        page.wait('document.querySelector(\'tr[data-target-id="%d"]\').dataset.state'
                  ' === "draining"' % drained, 10, 'the draining state shown')

        page.click('#pause-toggle')
        h.check(h.wait_until(lambda: api.status()['concurrency'] == 0, 10),
                'Pause did not reach the API')
        page.wait('document.getElementById("pause-toggle").dataset.paused === "true"', 10,
                  'the paused state shown')
        page.click('#pause-toggle')
        h.check(h.wait_until(lambda: api.status()['concurrency'] == -1, 10),
                'Resume did not restore concurrency -1')

        sel = 'button[data-action="forget"][data-client="127.0.0.2"]'
        page.wait('!!document.querySelector(%s)' % json.dumps(sel), 10, 'a Forget button')
        page.click(sel)
        h.check(h.wait_until(lambda: all(e['client'] != '127.0.0.2'
                                         for e in api.persistence()['entries']), 10),
                'Forget did not reach the API')

        # Phone width: the page fits; tables scroll inside their panel.
        page.viewport(390, 844, mobile=True)
        page.wait('document.documentElement.scrollWidth <= 392', 10,
                  'no horizontal overflow at 390 px (scrollWidth %s)'
                  % page.eval('document.documentElement.scrollWidth'))

        # A screenshot at desktop width, with some traffic for the sparkline.
        page.viewport(1280, 900)
        stop = threading.Event()
        th = threading.Thread(target=traffic, args=(hd, stop), daemon=True)
        th.start()
        try:
            page.wait('Number(document.getElementById("sparkline").dataset.points) >= 8',
                      30, 'sparkline points')
        finally:
            stop.set()
            th.join(10)
        page.eval('document.activeElement && document.activeElement.blur(), '
                  'window.scrollTo(0, 0), document.getElementById("notice").hidden = true')
        page.call('Input.dispatchMouseEvent', type='mouseMoved', x=1, y=1)
        time.sleep(0.3)
        shot = base64.b64decode(page.call('Page.captureScreenshot', format='png')['data'])
        h.check(shot.startswith(b'\x89PNG') and len(shot) > 10000,
                'screenshot of %d bytes' % len(shot))
        out = os.environ.get('DASHBOARD_PNG') or os.path.join(h.tmpdir(), 'dashboard.png')
        with open(out, 'wb') as f:
            f.write(shot)
        h.log('screenshot: %s (%d bytes)' % (out, len(shot)))

        # Remove asks for a second click.
        gone = ts[0]['id']
        sel = 'button[data-action="remove"][data-target-id="%d"]' % gone
        page.click(sel)
        page.wait('document.querySelector(%s).dataset.confirm === "yes"' % json.dumps(sel),
                  5, 'the Remove button asking to confirm')
        h.check(api.get('/api/v1/targets/%d' % gone).status == 200,
                'one click on Remove removed the target')
        page.click(sel)
        h.check(h.wait_until(lambda: api.get('/api/v1/targets/%d' % gone).status == 404, 10),
                'Remove did not reach the API')
        page.wait('!document.querySelector(\'tr[data-target-id="%d"]\')' % gone, 10,
                  'the removed target gone from the page')
        try:
            page.call('Browser.close')
        except (h.Failure, OSError):
            pass
    finally:
        page.close()
    proc.terminate(20)
    hd.stop()


h.run(main)
