"""ackwire: runs one ack-port conversation scenario (tests/integration/ack/wire/*.ack).

The ack port's cases share one shape: start harmonyd, talk on the ack port,
compare every answer token for token, then look at what the client port
serves and what the log says. So each case is a small text file, and this
runner is the one program that plays them (the models: OpenBSD relayd's
regress args-*.pl and HAProxy's reg-tests). make check runs it once per
file (Makefile.am: ACK_LOG_COMPILER).

A case is one directive a line; `#` starts a comment line; $NAME and
${NAME} expand to a backend's port or a captured value, \\xNN is a byte,
\\n, \\r, \\t, \\\\ and \\$ what they are in C.

    harmonyd ARGS...    start harmonyd (with --ack-port 127.0.0.1:0 added);
                        once, after the backends it names
    backend NAME        a backend answering "NAME\\n"; $NAME is its port
    conn [SOURCE]       a new ack connection (from SOURCE, e.g. 127.0.0.5);
                        the previous one is closed
    send TEXT           bytes on the connection, as they are (no ':' added)
    trickle TEXT        the same, one byte a write (a token split anywhere)
    expect TOKENS       the next answers are exactly TOKENS, e.g.
                        `NID:{key}:BAL:1000:SPORT:$A:`; `{var}` in place of
                        a token takes any token and names it for later $var
    closed              the server then closes the connection, saying nothing more
    silent SECONDS      nothing more arrives for SECONDS and the connection stays open
    serves NAME         a client connection to harmonyd is answered "NAME\\n"
    serves nothing      a client connection is closed with nothing
    log TEXT            harmonyd's log has TEXT (after expansion)
    nolog TEXT          harmonyd's log never has TEXT
    sleep SECONDS       wait

Every read has a deadline (10 s), so a missing answer fails the case
instead of hanging it.
"""

import os
import re
import socket
import sys
import time

import harness as h

READ_TIMEOUT = 10.0


def unescape(text, env):
    """The case's escapes and $variables, as bytes."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == '\\' and i + 1 < len(text):
            n = text[i + 1]
            simple = {'n': b'\n', 'r': b'\r', 't': b'\t', '\\': b'\\', '$': b'$'}
            if n in simple:
                out += simple[n]
                i += 2
                continue
            if n == 'x' and re.fullmatch(r'[0-9a-fA-F]{2}', text[i + 2:i + 4]):
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
            h.fail('bad escape %r' % text[i:i + 2])
        if c == '$':
            m = re.match(r'\$(?:\{(\w+)\}|(\w+))', text[i:])
            h.check(m is not None, 'a lone $ in %r (write \\$)' % text)
            name = m.group(1) or m.group(2)
            h.check(name in env, '$%s is not defined yet' % name)
            out += str(env[name]).encode()
            i += m.end()
            continue
        out += c.encode('utf-8')
        i += 1
    return bytes(out)


def split_tokens(data):
    """b'NID:k:BYE:' -> [b'NID', b'k', b'BYE']: every token ends with ':'."""
    parts = data.split(b':')
    return parts[:-1]   # what follows the last ':' is not a whole token yet


class Case:
    def __init__(self, path):
        self.path = path
        self.env = {}
        self.backends = {}
        self.hd = None
        self.sock = None
        self.buf = b''

    # --- the directives ----------------------------------------------------

    def do_backend(self, arg):
        name = arg.strip()
        h.check(re.fullmatch(r'[A-Za-z]\w*', name), 'backend NAME: %r' % name)
        b = h.Backend('name', name=name)
        self.backends[name] = b
        self.env[name] = b.port

    def do_harmonyd(self, arg):
        h.check(self.hd is None, 'one harmonyd per case')
        args = [unescape(a, self.env).decode() for a in arg.split()]
        self.hd = h.Harmonyd('--ack-port', '127.0.0.1:0', *args)
        self.env['ACKPORT'] = self.hd.ack_port
        self.env['PORT'] = self.hd.port

    def do_conn(self, arg):
        self.need_harmonyd()
        if self.sock is not None:
            self.sock.close()
        source = arg.strip() or None
        self.sock = h.connect(self.hd.ack_port, source=source, timeout=READ_TIMEOUT)
        self.buf = b''

    def do_send(self, arg):
        self.need_conn()
        try:
            self.sock.sendall(unescape(arg, self.env))
        except (BrokenPipeError, ConnectionResetError) as e:
            h.fail('send %r: %s' % (arg, e))

    def do_trickle(self, arg):
        self.need_conn()
        try:
            for b in unescape(arg, self.env):
                self.sock.sendall(bytes([b]))
                time.sleep(0.002)
        except (BrokenPipeError, ConnectionResetError) as e:
            h.fail('trickle %r: %s' % (arg, e))

    def do_expect(self, arg):
        self.need_conn()
        want = arg.strip().split(':')
        h.check(want and want[-1] == '', 'expect TOKENS ends with ":": %r' % arg)
        want = want[:-1]
        got = self.read_tokens(len(want))
        h.check(len(got) == len(want), 'expected %s, got %r (then EOF or timeout)'
                % (arg.strip(), b':'.join(got)))
        for w, g in zip(want, got):
            m = re.fullmatch(r'\{(\w+)\}', w)
            if m:
                self.env[m.group(1)] = g.decode('latin-1')
                continue
            h.check(g == unescape(w, self.env), 'expected %s, got %r'
                    % (arg.strip(), b':'.join(got)))

    def do_closed(self, arg):
        self.need_conn()
        rest = self.read_rest()
        h.check(rest == b'', 'expected the close, got %r more' % rest)

    def do_silent(self, arg):
        self.need_conn()
        seconds = float(arg)
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return
        finally:
            self.sock.settimeout(READ_TIMEOUT)
        h.check(False, 'expected silence for %s s, got %r'
                % (arg.strip(), data if data else 'the close'))

    def do_serves(self, arg):
        self.need_harmonyd()
        name = arg.strip()
        with h.connect(self.hd.port) as s:
            if name == 'nothing':
                got = h.recv_all(s, timeout=READ_TIMEOUT)
                h.check(got == b'', 'expected no target, got %r' % got)
            else:
                got = h.recv_line(s, timeout=READ_TIMEOUT)
                h.check(got == name.encode() + b'\n', 'expected %s to serve, got %r'
                        % (name, got))

    def do_log(self, arg):
        self.need_harmonyd()
        text = unescape(arg.strip(), self.env).decode('utf-8', 'replace')
        ok = h.wait_until(lambda: text in self.hd.log_text(), timeout=READ_TIMEOUT)
        h.check(ok, 'the log has %r:\n%s' % (text, self.hd.log_text()[-3000:]))

    def do_nolog(self, arg):
        self.need_harmonyd()
        text = unescape(arg.strip(), self.env).decode('utf-8', 'replace')
        h.check(text not in self.hd.log_text(), 'the log must not have %r' % text)

    def do_sleep(self, arg):
        time.sleep(float(arg))

    # --- reading -------------------------------------------------------------

    def read_tokens(self, n):
        deadline = time.monotonic() + READ_TIMEOUT
        while len(split_tokens(self.buf)) < n and time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            self.buf += chunk
        toks = split_tokens(self.buf)
        got, rest = toks[:n], toks[n:]
        self.buf = b''.join(t + b':' for t in rest) + self.buf[self.buf.rfind(b':') + 1:]
        return got

    def read_rest(self):
        data = self.buf
        self.buf = b''
        try:
            data += h.recv_all(self.sock, timeout=READ_TIMEOUT)
        except ConnectionResetError:
            pass
        return data

    def need_harmonyd(self):
        h.check(self.hd is not None, 'the case starts no harmonyd before this')

    def need_conn(self):
        h.check(self.sock is not None, 'no `conn` before this')

    def play(self):
        with open(self.path, encoding='utf-8') as f:
            lines = f.read().splitlines()
        for n, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            verb, _, arg = line.strip().partition(' ')
            fn = getattr(self, 'do_' + verb, None)
            h.check(fn is not None, '%s:%d: unknown directive %r' % (self.path, n, verb))
            h.log('%s:%d: %s' % (os.path.basename(self.path), n, line.strip()))
            fn(arg)
        if self.sock is not None:
            self.sock.close()
        if self.hd is not None:
            self.hd.stop()


def main():
    h.check(len(sys.argv) == 2, 'usage: ackwire.py CASE.ack')
    Case(sys.argv[1]).play()


if __name__ == '__main__':
    h.run(main)
