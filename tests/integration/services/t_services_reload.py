#!/usr/bin/env python3
"""SIGHUP with services (issue 15): services added, changed and removed
take effect without dropping a session of a service left alone; a removed
service stops accepting at once and its running sessions finish within
--grace; a listen change of one service rebinds only that service's
listeners; a bad file is rejected whole (every service keeps running)."""

import json
import os
import signal
import socket
import threading
import time

import harness as h
from adminhttp import Api


def config(services, default='web', grace='5s'):
    return json.dumps({'ack-port': '127.0.0.1:0', 'http': '127.0.0.1:0',
                       'grace': grace, 'default': default, 'services': services})


def listeners(api):
    return {s['name']: s['listeners'] for s in
            api.get('/api/v1/services').json()['services']}


def port_of(api, name):
    return int(listeners(api)[name][0].rsplit(':', 1)[1])


def refused(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def echo_ok(s, data):
    s.sendall(data)
    got = b''
    while len(got) < len(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got == data


class Traffic:
    """Short echo sessions through port, one after another, until stopped:
    every byte must come back, whatever the reloads do elsewhere."""

    def __init__(self, port):
        self.port, self.ok, self.bad = port, 0, []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        n = 0
        while not self.stopping.is_set() and n < 5000:
            n += 1
            data = b'%d:' % n + os.urandom(2048).hex().encode() + b'\n'
            try:
                with h.connect(self.port, timeout=10) as s:
                    if echo_ok(s, data):
                        self.ok += 1
                    else:
                        self.bad.append('session %d: bytes lost' % n)
            except OSError as e:
                self.bad.append('session %d: %s' % (n, e))

    def stop(self):
        self.stopping.set()
        self.thread.join(30)
        return self.ok, self.bad


def main():
    web, api_be, db = h.Backend('echo'), h.Backend('echo'), h.Backend('name', name='DB')
    path = h.write_file('svc.json', config({
        'web': {'listen': '127.0.0.1:0', 'target': [web.target()]},
        'api': {'listen': '127.0.0.1:0', 'target': [api_be.target()]},
    }))
    hd = h.Harmonyd('-c', path, base=False)
    api = Api(hd.http_port)
    web_port, api_port = port_of(api, 'web'), port_of(api, 'api')

    # A session through each service, open across the reloads.
    ws = h.connect(web_port)
    h.check(echo_ok(ws, b'before\n'), 'web session works')
    as_ = h.connect(api_port)
    h.check(echo_ok(as_, b'api before\n'), 'api session works')
    traffic = Traffic(web_port)

    # 1: api removed, db added.
    reloads = hd.log_text().count('SIGHUP: configuration reloaded')
    h.write_file('svc.json', config({
        'web': {'listen': '127.0.0.1:0', 'target': [web.target()]},
        'db': {'listen': '127.0.0.1:0', 'target': [db.target()]},
    }))
    os.kill(hd.popen.pid, signal.SIGHUP)
    h.check(h.wait_until(lambda: hd.log_text().count('SIGHUP: configuration reloaded')
                         > reloads, 15), 'reloaded:\n%s' % hd.log_text())
    h.check(sorted(listeners(api)) == ['db', 'web'], 'services now %r' % listeners(api))
    h.check(port_of(api, 'web') == web_port, 'web kept its listener')
    h.check(refused(api_port), 'the removed service takes no new client')
    h.check(echo_ok(ws, b'web during\n'), 'the web session went on')
    h.check(echo_ok(as_, b'api still\n'), 'the api session finishes its work')
    with h.connect(port_of(api, 'db')) as s:
        h.check(h.recv_line(s) == b'DB\n', 'the added service serves')

    # 2: db's listen moves; web's untouched. A bad file changes nothing.
    db_port = port_of(api, 'db')
    free = h.DeadPort()
    new_db = free.port
    free.close()
    reloads = hd.log_text().count('SIGHUP: configuration reloaded')
    h.write_file('svc.json', config({
        'web': {'listen': '127.0.0.1:0', 'target': [web.target()]},
        'db': {'listen': '127.0.0.1:%d' % new_db, 'target': [db.target()]},
    }))
    os.kill(hd.popen.pid, signal.SIGHUP)
    h.check(h.wait_until(lambda: hd.log_text().count('SIGHUP: configuration reloaded')
                         > reloads, 15), 'reloaded again')
    h.check(port_of(api, 'db') == new_db, 'db rebound: %r' % listeners(api))
    h.check(refused(db_port), 'db left its old port')
    h.check(port_of(api, 'web') == web_port, 'web did not rebind')
    h.check(echo_ok(ws, b'web after\n'), 'the web session still goes on')

    h.write_file('svc.json', '{"services": {"web": {"listen": "127.0.0.1:0",'
                 ' "balance": "nosuch"}}}')
    os.kill(hd.popen.pid, signal.SIGHUP)
    h.check(hd.wait_log(r'SIGHUP: .*keeping the running configuration', 15)
            is not None, 'a bad file is refused')
    h.check(sorted(listeners(api)) == ['db', 'web'], 'nothing changed')
    ok, bad = traffic.stop()
    h.check(ok > 0 and not bad, 'web traffic across three reloads: %d sessions,'
            ' failures %r' % (ok, bad[:5]))

    # The removed service's session ends within --grace (5 s).
    as_.settimeout(15)
    t0 = time.monotonic()
    try:
        while as_.recv(4096):
            pass
    except ConnectionResetError:
        pass
    h.check(time.monotonic() - t0 < 12, 'api session closed within its grace')
    h.check(hd.wait_log(r'service api: grace period over', 5) is not None,
            'the retired service is gone:\n%s' % hd.log_text())
    as_.close()
    h.check(echo_ok(ws, b'web at the end\n'), 'and web is still fine')
    ws.close()
    hd.stop()


if __name__ == '__main__':
    h.run(main)
