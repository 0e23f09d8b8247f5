"""oldserver: the original node-harmony server (tony-o/harmony lib/server.js),
as a behavioural model for the tests, the way ackclient.py models its client.

What the model reproduces, from reading the original (none of its code is
here):

The ack port. Each chunk read from a connection is split on ':' and the
pieces are appended to that connection's token list; a token cut across two
reads stays cut (the halves are two tokens). After every chunk the whole
list is scanned again from its start, and at each position:
- `NID` (with a token after it): a new target keyed by the upper-case md5 of
  the current time in whole seconds (a second NID within the same second
  waits, busily, for the next second), weight 500, port = the balancer's own
  listen port, address = this connection's local address; the weights'
  shares are recomputed (only here); answers `NID:<key>:`;
- `ID`: a known key binds the connection, answers `ID:<key>:`; an unknown
  one answers `BID:<key>:` and both tokens stay in the list, so every later
  chunk on that connection answers that `BID` again;
- `CLOSE`: sets the target's last ack to 0 (the epoch), answers
  `CLOSE:<key>:`; an unknown key is a TypeError: the server dies;
- `SPORT` / `BAL` on the bound target (unbound: TypeError, the server dies);
  `BAL` takes parseFloat of its argument (not a number: 500) and answers
  the number as JavaScript prints it, SPORT echoes its argument;
- `ACK`: refreshes the target's last ack if the key is known, and answers
  `ACK:<key>:` whether or not it is;
- `BYE`: removes the token at the *start* of the list and ends the
  connection (FIN after what was written);
- an empty token is dropped; anything else (AUTH, TTL, HOST, ERR, ...) gets
  no answer and stays in the list.
Each answer is its own write. No socket has an error handler, so an error on
any connection (ECONNRESET on read, EPIPE on write, a write after end) is an
uncaught exception: the whole server dies, and every socket it had is closed
by the kernel. There is no idle timeout; a peer's FIN ends the connection.

The listen port (kept simple: enough to see traffic reach a target): a
client address already in the persistence table (keyed, as the original
does, by the connection's *local* address) goes to its target; otherwise the
target with the lowest (connections + 1) / share among those whose last ack
is less than host_timeout minutes old (minutes counted modulo one hour, as
the original does) is chosen and its connection count goes up (never down).
No target: the unavailable text, if any, then close.

`crashed` is None while it runs, else why it died.
"""

import hashlib
import re
import selectors
import socket
import threading
import time


class Crash(Exception):
    pass


def js_number(text):
    """parseFloat(text) as JavaScript prints it; None for NaN."""
    m = re.match(r'\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?Infinity)', text)
    if m is None:
        return None
    v = float(m.group(1))
    if v != v:
        return None
    if v in (float('inf'), float('-inf')):
        return 'Infinity' if v > 0 else '-Infinity'
    if v == int(v) and abs(v) < 1e21:
        return str(int(v))
    return repr(v)


def minutes_between(now_ms, then_ms):
    return ((now_ms - then_ms) % 86400000 % 3600000) / 60000.0


def now_ms():
    return int(time.time() * 1000)


class _AckConn:
    def __init__(self, sock):
        self.sock = sock
        self.local = sock.getsockname()[0]
        self.tokens = []
        self.bound = None       # con.id
        self.ended = False      # end() called: no more writes allowed
        self.rx = b''           # undecoded tail of a UTF-8 sequence
        self.number = 0


class OldServer:
    def __init__(self, host_timeout_min=1.0, unavailable=None, ack_port=0,
                 listen_port=0):
        self.host_timeout_min = host_timeout_min
        self.unavailable = unavailable
        self.targets = {}       # key -> dict(balance, connections, port, addr, lastack, perc)
        self.persistent = {}
        self.crashed = None
        self.accepted = 0       # ack connections ever
        self.messages = []      # (verb, arg) handled, in order
        self.received = []      # (connection number, bytes), every read
        self.lock = threading.Lock()
        self._stop = False
        self.ack_listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ack_listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ack_listener.bind(('127.0.0.1', ack_port))
        self.ack_listener.listen(64)
        self.ack_port = self.ack_listener.getsockname()[1]
        self.proxy_listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.proxy_listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.proxy_listener.bind(('127.0.0.1', listen_port))
        self.proxy_listener.listen(64)
        self.listen_port = self.proxy_listener.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.ack_listener, selectors.EVENT_READ, 'ack')
        self.sel.register(self.proxy_listener, selectors.EVENT_READ, 'proxy')
        self.conns = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    # --- the event loop (one thread, as node's) -------------------------

    def _run(self):
        try:
            while not self._stop:
                for k, _ in self.sel.select(0.1):
                    if k.data == 'ack':
                        self._accept_ack()
                    elif k.data == 'proxy':
                        self._accept_proxy()
                    else:
                        self._readable(k.data)
        except Crash as e:
            with self.lock:
                self.crashed = str(e)
        finally:
            self._die()

    def _die(self):
        for c in list(self.conns.values()):
            c.sock.close()
        self.conns.clear()
        self.ack_listener.close()
        self.proxy_listener.close()
        self.sel.close()

    def stop(self):
        self._stop = True
        self.thread.join(10)

    def alive(self):
        return self.thread.is_alive()

    def _accept_ack(self):
        try:
            s, _ = self.ack_listener.accept()
        except OSError:
            return
        c = _AckConn(s)
        self.conns[s.fileno()] = c
        self.sel.register(s, selectors.EVENT_READ, c)
        with self.lock:
            self.accepted += 1
            c.number = self.accepted

    def _forget(self, c):
        self.sel.unregister(c.sock)
        del self.conns[c.sock.fileno()]
        c.sock.close()

    def _readable(self, c):
        try:
            data = c.sock.recv(65536)
        except OSError as e:
            raise Crash('ack connection: read: %s (no error handler)' % e)
        if not data:
            # The peer's FIN: node ends its side too (allowHalfOpen false).
            if not c.ended:
                c.ended = True
                try:
                    c.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            self._forget(c)
            return
        with self.lock:
            self.received.append((c.number, data))
        data = c.rx + data
        try:
            text = data.decode('utf-8')
            c.rx = b''
        except UnicodeDecodeError as e:
            if e.start >= len(data) - 3 and e.reason == 'unexpected end of data':
                text, c.rx = data[:e.start].decode('utf-8', 'replace'), data[e.start:]
            else:
                text, c.rx = data.decode('utf-8', 'replace'), b''
        c.tokens.extend(text.split(':'))
        self._scan(c)

    def _write(self, c, text):
        if c.ended:
            raise Crash('ack connection: write after end (no error handler)')
        try:
            c.sock.sendall(text.encode('utf-8'), socket.MSG_NOSIGNAL)
        except OSError as e:
            raise Crash('ack connection: write: %s (no error handler)' % e)

    def _new_key(self):
        while True:
            stamp = time.strftime('%a %b %d %Y %H:%M:%S GMT+0000 (UTC)', time.gmtime())
            key = hashlib.md5(stamp.encode()).hexdigest().upper()
            if key not in self.targets:
                return key
            time.sleep(0.005)   # the original spins here, blocking everything

    def _shares(self):
        total = sum(t['balance'] for t in self.targets.values())
        for t in self.targets.values():
            t['perc'] = t['balance'] * 100.0 / total if total else float('nan')

    def _bound_target(self, c, verb):
        t = self.targets.get(c.bound)
        if t is None:
            raise Crash('%s on an unbound connection: TypeError' % verb)
        return t

    def _scan(self, c):
        toks = c.tokens
        b = 0
        while b < len(toks):
            verb = toks[b]
            has_arg = b + 1 < len(toks)
            if verb in ('NID', 'ID', 'CLOSE', 'SPORT', 'BAL', 'ACK') and has_arg:
                arg = toks[b + 1]
                if verb == 'ID' and arg not in self.targets:
                    self._note(verb, arg)
                    self._write(c, 'BID:%s:' % arg)
                    b += 1      # both tokens stay: answered again next chunk
                    continue
                self._note(verb, arg)
                self._verb(c, verb, arg)
                del toks[b:b + 2]
                continue
            if verb == 'BYE':
                # The first token goes, whichever it is, and the scan goes
                # on at this index: if BYE was not first, it stays behind.
                self._note('BYE', None)
                del toks[0]
                if not c.ended:
                    c.ended = True
                    try:
                        c.sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                continue
            if verb == '':
                del toks[b]
                continue
            b += 1

    def _note(self, verb, arg):
        with self.lock:
            self.messages.append((verb, arg))

    def _verb(self, c, verb, arg):
        with self.lock:
            if verb == 'NID':
                key = self._new_key()
                c.bound = key
                self.targets[key] = dict(balance=500, connections=0,
                                         port=str(self.listen_port), addr=c.local,
                                         lastack=now_ms(), perc=None)
                self._shares()
                answer = 'NID:%s:' % key
            elif verb == 'ID':
                c.bound = arg
                answer = 'ID:%s:' % arg
            elif verb == 'CLOSE':
                t = self.targets.get(arg)
                if t is None:
                    raise Crash('CLOSE of an unknown key: TypeError')
                t['lastack'] = 0
                answer = 'CLOSE:%s:' % arg
            elif verb == 'SPORT':
                self._bound_target(c, verb)['port'] = arg
                answer = 'SPORT:%s:' % arg
            elif verb == 'BAL':
                t = self._bound_target(c, verb)
                n = js_number(arg)
                t['balance'] = float(n) if n is not None else 500
                answer = 'BAL:%s:' % (n if n is not None else '500')
            else:   # ACK
                if arg in self.targets:
                    self.targets[arg]['lastack'] = now_ms()
                answer = 'ACK:%s:' % arg
        self._write(c, answer)

    # --- the listen port ------------------------------------------------

    def _pick(self):
        best, best_id = -1, None
        now = now_ms()
        for key, t in self.targets.items():
            if t['perc'] is None:
                continue
            load = (t['connections'] + 1) / t['perc'] if t['perc'] else float('inf')
            if (load < best or best == -1) and \
                    minutes_between(now, t['lastack']) < self.host_timeout_min:
                best, best_id = load, key
        if best_id is not None:
            self.targets[best_id]['connections'] += 1
        return best_id

    def _accept_proxy(self):
        try:
            s, _ = self.proxy_listener.accept()
        except OSError:
            return
        with self.lock:
            local = s.getsockname()[0]
            key = self.persistent.get(local)
            if key is None:
                key = self._pick()
                self.persistent[local] = key
            t = dict(self.targets[key]) if key is not None else None
        threading.Thread(target=self._relay, args=(s, t), daemon=True).start()

    def _relay(self, src, t):
        try:
            if t is None:
                if self.unavailable is not None:
                    src.sendall(self.unavailable)
                return
            try:
                dst = socket.create_connection((t['addr'], int(t['port'])), timeout=10)
            except (OSError, ValueError):
                return
            with dst:
                sel = selectors.DefaultSelector()
                sel.register(src, selectors.EVENT_READ, dst)
                sel.register(dst, selectors.EVENT_READ, src)
                open_ = 2
                while open_:
                    for k, _ in sel.select(30):
                        data = k.fileobj.recv(65536)
                        if not data:
                            sel.unregister(k.fileobj)
                            open_ -= 1
                            try:
                                k.data.shutdown(socket.SHUT_WR)
                            except OSError:
                                pass
                        else:
                            k.data.sendall(data)
                sel.close()
        except OSError:
            pass            # the original handles errors on these sockets
        finally:
            src.close()

    # --- for the tests --------------------------------------------------

    def count(self, verb):
        with self.lock:
            return sum(1 for v, _ in self.messages if v == verb)

    def bytes_of(self, number):
        with self.lock:
            return b''.join(d for n, d in self.received if n == number)

    def snapshot(self):
        with self.lock:
            return {k: dict(v) for k, v in self.targets.items()}
