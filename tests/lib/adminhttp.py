"""adminhttp: curl-based helpers for the admin HTTP tests (t_api.py,
t_admin_*.py, t_dashboard.py). Standard library and the curl program only.

    api = Api(hd.http_port, token='s3cret')
    r = api.post('/api/v1/targets', {'port': be.port})
    h.check(r.status == 201, ...)
"""

import json
import os
import re
import shutil
import subprocess
import threading

import harness as h

_seq = 0
_seq_lock = threading.Lock()


def need_curl():
    if shutil.which('curl') is None:
        h.skip('curl is not installed (Debian: apt-get install curl)')


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # lower-case name -> last value
        self.body = body                # bytes
        self.text = body.decode('utf-8', 'replace')

    def json(self):
        try:
            return json.loads(self.text)
        except ValueError:
            h.fail('not JSON (status %d): %r' % (self.status, self.text[:300]))

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return '<%d %s>' % (self.status, self.text[:200])


def _tmpname(what):
    global _seq
    with _seq_lock:
        _seq += 1
        return os.path.join(h.tmpdir(), 'curl-%d.%s' % (_seq, what))


def _parse_headers(path):
    """The last header block curl wrote (after any 100 Continue)."""
    with open(path, 'rb') as f:
        raw = f.read().decode('iso-8859-1')
    blocks = [b for b in re.split(r'\r?\n\r?\n', raw) if b.strip()]
    headers = {}
    if blocks:
        for line in blocks[-1].splitlines()[1:]:
            name, _, value = line.partition(':')
            headers[name.strip().lower()] = value.strip()
    return headers


class Api:
    """Requests to one admin interface through the curl program."""

    def __init__(self, port, token=None, host='127.0.0.1'):
        self.base = 'http://%s:%d' % (host, port)
        self.token = token

    def url(self, path):
        return self.base + path

    def call(self, method, path, body=None, token=None, raw=None,
             content_type='application/json', headers=(), source=None,
             timeout=20, extra=()):
        """body is JSON-encoded; raw (bytes) is sent as is. token=None uses
        the Api's token, token='' sends none."""
        hdr, out = _tmpname('hdr'), _tmpname('out')
        cmd = ['curl', '-sS', '--path-as-is', '--max-time', str(timeout),
               '-D', hdr, '-o', out, '-w', '%{http_code}']
        # -X HEAD would wait for the body that Content-Length announces.
        cmd += ['--head'] if method == 'HEAD' else ['-X', method]
        if source is not None:
            cmd += ['--interface', source]
        tok = self.token if token is None else token
        if tok:
            cmd += ['-H', 'Authorization: Bearer %s' % tok]
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        if data is not None:
            dfile = _tmpname('body')
            with open(dfile, 'wb') as f:
                f.write(data)
            cmd += ['--data-binary', '@' + dfile]
            cmd += ['-H', 'Content-Type: %s' % content_type if content_type
                    else 'Content-Type:']
        for hd in headers:
            cmd += ['-H', hd]
        cmd += list(extra)
        cmd.append(self.url(path))
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout + 10)
        except subprocess.TimeoutExpired:
            h.fail('curl %s %s did not finish' % (method, path))
        if p.returncode != 0:
            return Response(0, {}, p.stderr)    # status 0: no HTTP answer
        status = int(p.stdout.decode() or '0')
        content = b''
        if os.path.exists(out):         # no file for an empty body
            with open(out, 'rb') as f:
                content = f.read()
            os.unlink(out)
        resp = Response(status, _parse_headers(hdr), content)
        os.unlink(hdr)
        return resp

    def get(self, path, **kw):
        return self.call('GET', path, **kw)

    def post(self, path, body=None, **kw):
        return self.call('POST', path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call('PATCH', path, body, **kw)

    def delete(self, path, **kw):
        return self.call('DELETE', path, **kw)

    # --- common steps, checked ---

    def expect(self, status, method, path, body=None, **kw):
        r = self.call(method, path, body, **kw)
        h.check(r.status == status, '%s %s: expected %d, got %d %s'
                % (method, path, status, r.status, r.text[:300]))
        return r

    def register(self, port, weight=None, status=201, **more):
        body = {'port': port}
        if weight is not None:
            body['weight'] = weight
        body.update(more)
        return self.expect(status, 'POST', '/api/v1/targets', body).json()

    def targets(self):
        return self.expect(200, 'GET', '/api/v1/targets').json()['targets']

    def target(self, tid):
        return self.expect(200, 'GET', '/api/v1/targets/%d' % tid).json()

    def status(self):
        return self.expect(200, 'GET', '/api/v1/status').json()

    def persistence(self):
        return self.expect(200, 'GET', '/api/v1/persistence').json()

    def history(self, prefix='/api/v1', limit=None):
        """The events of prefix + /events/history, newest first."""
        q = '' if limit is None else '?limit=%d' % limit
        r = self.expect(200, 'GET', prefix + '/events/history' + q).json()
        h.check(isinstance(r.get('dropped'), int), 'history %r' % r)
        return r['events']


def harmonyd(*args, **kw):
    """harmonyd with the admin interface on an ephemeral loopback port."""
    need_curl()
    hd = h.Harmonyd('--http', '127.0.0.1:0', *args, **kw)
    h.check(hd.http_port is not None, 'no "listening: http ADDR:PORT" line:\n'
            + hd.log_text())
    return hd


def web_root():
    return os.path.join(h.SRCDIR, 'web')


class Events:
    """A curl reading /api/v1/events; events() parses what came so far."""

    def __init__(self, api, timeout=120):
        self.proc = h.Proc('curl events', ['curl', '-sS', '-N', '--max-time',
                                           str(timeout), api.url('/api/v1/events')])

    def events(self):
        out, ev, data = [], None, []
        for line in self.proc.out.text().split('\n'):
            if line.startswith('event:'):
                ev = line[6:].strip()
            elif line.startswith('data:'):
                data.append(line[5:].lstrip())
            elif line == '' and data:
                out.append((ev or 'message', '\n'.join(data)))
                ev, data = None, []
        return out

    def snapshots(self):
        return [json.loads(d) for e, d in self.events() if e == 'snapshot']

    def targets(self):
        """The target events (`event: target`) so far, in the order sent."""
        return [json.loads(d) for e, d in self.events() if e == 'target']

    def wait(self, pred, timeout=10.0):
        """The first snapshot for which pred(snapshot) is true, or None."""
        found = []

        def look():
            for s in self.snapshots():
                if pred(s):
                    found.append(s)
                    return True
            return False
        h.wait_until(look, timeout, 0.05)
        return found[0] if found else None

    def close(self):
        self.proc.kill()


METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})?'
    r' (-?(?:[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|NaN|[+-]Inf))$')


def parse_metrics(text):
    """{(name, labels text): value}; fails on any malformed line."""
    values, helped, typed = {}, set(), {}
    h.check(text.endswith('\n'), '/metrics does not end with a newline')
    for line in text.split('\n')[:-1]:
        if line.startswith('# HELP '):
            helped.add(line.split(' ')[2])
            continue
        if line.startswith('# TYPE '):
            parts = line.split(' ')
            h.check(len(parts) == 4 and parts[3] in ('counter', 'gauge', 'histogram'),
                    'bad TYPE line %r' % line)
            typed[parts[2]] = parts[3]
            continue
        h.check(not line.startswith('#'), 'unexpected comment %r' % line)
        m = METRIC_LINE.match(line)
        h.check(m is not None, 'malformed metric line %r' % line)
        name = m.group(1)
        h.check(name.startswith('harmony_'), 'metric without harmony_ prefix: %r' % line)
        # A histogram's series are its name's _bucket, _sum and _count.
        base = re.sub(r'_(bucket|sum|count)$', '', name)
        if base != name and typed.get(base) == 'histogram':
            h.check(base in helped, 'no HELP before %r' % line)
            if name.endswith('_bucket'):
                h.check('le="' in (m.group(2) or ''), 'bucket without le: %r' % line)
            values[(name, m.group(2) or '')] = float(m.group(3))
            continue
        h.check(name in helped and name in typed, 'no HELP/TYPE before %r' % line)
        if typed[name] == 'counter':
            h.check(name.endswith('_total'), 'counter %s without _total' % name)
        values[(name, m.group(2) or '')] = float(m.group(3))
    return values
