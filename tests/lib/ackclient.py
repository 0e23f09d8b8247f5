"""ackclient: node-harmony's reference client (lib/client.js), byte for byte.

What the reference client does (README "The ack protocol"), reproduced for the tests:
- register: connect, write `NID::BAL:<w>:SPORT:<p>:` in one burst, read the
  answers, and write `BYE:` once every message has been answered;
- heartbeat: a new connection per beat writing `ACK:<key>:ID:<key>:`, then
  `BYE:` once both are answered;
- close: a new connection writing `CLOSE:<key>:ID:<key>:`, and never `BYE:`
  (the server's idle timeout ends it);
- on any `BID` the next connection registers anew with `NID::` alone (no
  BAL, no SPORT).
bytewise=True sends every message one byte at a time instead of in a burst.
"""

import socket
import time

import harness as h


def tokens(data):
    """b'NID:k:BAL:5:' -> [('NID', 'k'), ('BAL', '5')] (pairs; BYE alone)."""
    parts = data.decode('latin-1').split(':')
    if parts and parts[-1] == '':
        parts.pop()
    out, i = [], 0
    while i < len(parts):
        if parts[i] == '':
            i += 1
            continue
        if parts[i] == 'BYE':
            out.append(('BYE', None))
            i += 1
            continue
        out.append((parts[i], parts[i + 1] if i + 1 < len(parts) else None))
        i += 2
    return out


class RefClient:
    def __init__(self, ack_port, port, weight=1000, bytewise=False,
                 extra=b'', source=None):
        self.ack_port = ack_port
        self.port = port
        self.weight = weight
        self.bytewise = bytewise
        self.extra = extra          # e.g. b'AUTH:tok:' before everything
        self.source = source
        self.key = None
        self.need_nid = True
        self.open = []              # sockets left open (close without BYE)

    def _send(self, s, data):
        if self.bytewise:
            for i in range(len(data)):
                s.sendall(data[i:i + 1])
                time.sleep(0.001)
        else:
            s.sendall(data)

    def _exchange(self, msgs, bye=True, timeout=10.0):
        """Sends msgs, reads until each has an answer; returns the answers."""
        s = h.connect(self.ack_port, source=self.source, timeout=timeout)
        try:
            self._send(s, self.extra + b''.join(msgs))
            want = len(msgs) + (1 if self.extra else 0)
            buf = b''
            deadline = time.monotonic() + timeout
            while len(tokens(buf)) < want and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            answers = tokens(buf)
            if bye:
                try:
                    s.sendall(b'BYE:')
                    s.settimeout(5)
                    h.check(s.recv(16) == b'', 'the server closes after BYE:')
                except ConnectionResetError:
                    pass
                s.close()
            else:
                self.open.append(s)
            return answers
        except BaseException:
            s.close()
            raise

    def register(self):
        msgs = [b'NID::']
        if not self.need_nid or self.key is None:
            msgs += [b'BAL:%d:' % self.weight, b'SPORT:%d:' % self.port]
        answers = self._exchange(msgs)
        if self.extra:
            answers = answers[1:]
        h.check(answers and answers[0][0] == 'NID', 'NID answered: %r' % answers)
        self.key = answers[0][1]
        self.need_nid = False
        return answers

    def reregister_after_bid(self):
        """What the reference client does after a BID: `NID::` alone."""
        answers = self._exchange([b'NID::'])
        if self.extra:
            answers = answers[1:]
        h.check(answers and answers[0][0] == 'NID', 'NID answered: %r' % answers)
        self.key = answers[0][1]
        return answers

    def heartbeat(self):
        k = self.key.encode()
        answers = self._exchange([b'ACK:%s:' % k, b'ID:%s:' % k])
        if self.extra:
            answers = answers[1:]
        if any(a[0] == 'BID' for a in answers):
            self.need_nid = True
        return answers

    def close(self):
        k = self.key.encode()
        answers = self._exchange([b'CLOSE:%s:' % k, b'ID:%s:' % k], bye=False)
        return answers[1:] if self.extra else answers

    def shutdown(self):
        for s in self.open:
            s.close()
        self.open = []


class NodeClient:
    """node-harmony's lib/client.js as it really behaves, message queue and
    all (RefClient above is the tidy version of what it sends).

    The original keeps one list of messages. Every connection first adds
    `ID:<id>:` (or, with no id yet, `NID::`, `BAL:<w>:`, `SPORT:<p>:`) and
    writes the whole list; an answer removes the messages it repeats; a
    `BID` adds `NID::` (for the next connection) and removes nothing, so
    the message that got it is sent again on every later connection. The
    answers are read as node does: each chunk split on ':' onto one token
    list per connection, a recognised pair taken off the *front* of that
    list. `BYE:` goes out only once the list is empty; otherwise the socket
    is left open (node never closes it; the server's idle timeout does).
    heartbeat() is one tick of the client's `ack` interval.
    """

    OPEN_MAX = 6    # sockets kept open here; the server would idle them out

    def __init__(self, ack_port, port, weight=500, source=None):
        self.ack_port = ack_port
        self.port = port
        self.weight = weight
        self.source = source
        self.id = None
        self.messages = []
        self.closed = False
        self.open = []
        self.answers = []           # every (verb, arg) pair read, for tests

    def _remove(self, msg):
        self.messages = [m for m in self.messages if m != msg]

    def _on_data(self, buf, text):
        buf.extend(text.split(':'))
        b = 0
        while b < len(buf):
            tok = buf[b]
            more = b + 1 < len(buf)
            if tok == 'NID' and more:
                self.id = buf[b + 1]
                del buf[0:2]
                self._remove('NID::')
                continue
            if tok == 'ID' and more:
                self._remove('ID:%s:' % self.id)
                del buf[0:2]
                continue
            if tok == 'BID' and more:
                self.messages.append('NID::')
            if tok in ('BAL', 'SPORT', 'ACK') and more:
                self._remove('%s:%s:' % (tok, buf[b + 1]))
                del buf[0:2]
                continue
            b += 1

    def _csock(self, quiet=0.4, timeout=10.0):
        s = h.connect(self.ack_port, source=self.source, timeout=timeout)
        if self.id:
            self.messages.append('ID:%s:' % self.id)
        else:
            self.messages += ['NID::', 'BAL:%d:' % self.weight,
                              'SPORT:%d:' % self.port]
        s.sendall(''.join(self.messages).encode())
        buf, bye = [], False
        s.settimeout(quiet)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                chunk = b''
            if not chunk:
                break
            text = chunk.decode('utf-8', 'replace')
            self.answers += tokens(chunk)
            self._on_data(buf, text)
            if not self.messages:
                s.sendall(b'BYE:')
                bye = True
                break
        if bye:
            s.close()
        else:
            self.open.append(s)
            while len(self.open) > self.OPEN_MAX:
                self.open.pop(0).close()

    def start(self):
        """new client(...): the first connection registers."""
        self._csock()

    def heartbeat(self):
        if not self.closed:
            self.messages.append('ACK:%s:' % self.id)
            self._csock()

    def shutdown(self):
        for s in self.open:
            s.close()
        self.open = []
