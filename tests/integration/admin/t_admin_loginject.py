#!/usr/bin/env python3
"""Log injection through the admin URL: at -v every request is logged with
its (percent-decoded) path, so "%0d%0a" would start a forged line, "%1b" a
terminal escape and "%ff" an invalid UTF-8 byte. Every log line must keep
them escaped (\\xNN): one request, one line, starting with our own prefix,
and no raw control byte or invalid UTF-8 anywhere in the log."""

import re
import socket

import harness as h
from adminhttp import harmonyd

PREFIX = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+\[\d+\] '
                    r'(debug|info|warn|error|fatal): ')
FORGED = ('/x%0d%0a2026-01-01T00:00:00.000Z%20harmonyd[1]%20warn:%20forged'
          '%0a%1b[2J%1b]0;pwned%07%ff%c2%9b%7f')


def raw_get(port, path):
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        s.sendall(('GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close'
                   '\r\n\r\n' % (path, port)).encode())
        return h.recv_to_end(s, timeout=10)[0]


def main():
    hd = harmonyd('-v')
    for path in (FORGED, '/api/v1/targets/1' + FORGED[2:], '/api' + FORGED[2:]):
        answer = raw_get(hd.http_port, path)
        h.check(answer.startswith(b'HTTP/1.1 '), 'no HTTP answer: %r' % answer[:200])
    h.check(hd.wait_log(r'http: GET /x', 10) is not None,
            'the request was not logged at -v:\n' + hd.log_text())
    hd.stop()
    text = hd.log_text()
    for line in text.split('\n'):
        if line == '':
            continue
        h.check(PREFIX.match(line) is not None, 'a line not written by the log '
                'module (forged?): %r' % line)
        h.check(re.search(r'[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]', line) is None,
                'a raw control byte in the log: %r' % line)
        h.check('\ufffd' not in line, 'invalid UTF-8 in the log: %r' % line)
    h.check('forged\\x0a\\x1b[2J\\x1b]0;pwned\\x07\\xff\\xc2\\x9b\\x7f' in text,
            'the URL is not logged escaped:\n' + text)


h.run(main)
