"""chromium: the integration tests' headless Chromium (tests/integration/admin/
t_dashboard*.py): find it (skip without it), --dump-dom a page, and drive
one over the Chrome DevTools Protocol with a minimal websocket client on
the socket module.

    chrome = find_chromium()
    html = dump_dom(chrome, url)            # polling transport: ?transport=poll
    proc, page = start_chromium(chrome)     # or: with browser(chrome) as page:
    page.call('Page.navigate', url=url)
    page.wait('document.body.dataset.loaded === "yes"', 30, 'the page')
"""

import base64
import contextlib
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import urllib.parse
import urllib.request

import harness as h

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


_runs = [0]


def _profile(what):
    """A fresh --user-data-dir for each Chromium of the test."""
    _runs[0] += 1
    return os.path.join(h.tmpdir(), 'chrome-%s-%d' % (what, _runs[0]))


def dump_dom(chrome, url):
    udd = _profile('dump')
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
    """One page over CDP. on(event, fn) has fn(params) called for each such
    event, between calls (other events are dropped)."""

    def __init__(self, ws_url, timeout=60):
        self.ws = WebSocket(ws_url)
        self.ws.sock.settimeout(timeout)
        self.next_id = 0
        self.handlers, self.pending, self.dispatching = {}, [], False

    def on(self, event, fn):
        self.handlers[event] = fn

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({'id': mid, 'method': method, 'params': params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get('id') == mid:
                h.check('error' not in msg, '%s failed: %r' % (method, msg.get('error')))
                break
            if msg.get('method') in self.handlers:
                self.pending.append(msg)
        self._dispatch()
        return msg.get('result', {})

    def _dispatch(self):
        # A handler's own calls queue events; they are handled after it.
        if self.dispatching:
            return
        self.dispatching = True
        try:
            while self.pending:
                msg = self.pending.pop(0)
                self.handlers[msg['method']](msg.get('params', {}))
        finally:
            self.dispatching = False

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

    def visible(self, selector):
        """Whether an element matches and is rendered (not hidden)."""
        return self.eval('(() => { const e = document.querySelector(%s);'
                         ' return !!e && e.offsetParent !== null; })()' % json.dumps(selector))

    def fields(self, selector, *names):
        """The texts of the [data-field=NAME] cells of the element matched."""
        return self.eval('(() => { const e = document.querySelector(%s); const out = {};'
                         ' for (const n of %s) { const f = e && e.querySelector('
                         '\'[data-field="\' + n + \'"]\'); out[n] = f ? f.textContent : null; }'
                         ' return out; })()' % (json.dumps(selector), json.dumps(list(names))))

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

    def out_of_view(self, width):
        """The rows' action buttons (tbody button[data-action]) shown but not
        wholly within [0, width] (the viewport's) and their table's scrolling
        box (one scrolled out of it is not in view), and the page's scrollWidth."""
        return self.eval('''(() => {
            const out = [], w = %d;
            for (const b of document.querySelectorAll("tbody button[data-action]")) {
                if (b.offsetParent === null) continue;
                const r = b.getBoundingClientRect();
                const box = b.closest(".table-wrap").getBoundingClientRect();
                if (r.left < Math.max(0, box.left) || r.right > Math.min(w, box.right)) out.push(b.dataset.action + " " +
                    (b.dataset.targetId || b.dataset.client || b.dataset.service) + " at " +
                    Math.round(r.left) + ".." + Math.round(r.right));
            }
            return [out, document.documentElement.scrollWidth];
        })()''' % width)

    def screenshot(self, env, name):
        """A PNG of the page, kept at $env or else in the test's directory."""
        shot = base64.b64decode(self.call('Page.captureScreenshot', format='png')['data'])
        out = os.environ.get(env) or os.path.join(h.tmpdir(), name)
        with open(out, 'wb') as f:
            f.write(shot)
        h.log('screenshot: %s (%d bytes)' % (out, len(shot)))
        return shot

    def viewport(self, width, height, mobile=False):
        self.call('Emulation.setDeviceMetricsOverride', width=width, height=height,
                  deviceScaleFactor=1, mobile=mobile)

    def close(self):
        self.ws.close()


def start_chromium(chrome):
    udd = _profile('cdp')
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


@contextlib.contextmanager
def browser(chrome):
    """A Chromium and its page, closed at the end of the block."""
    proc, page = start_chromium(chrome)
    try:
        yield page
        try:
            page.call('Browser.close')
        except (h.Failure, OSError):
            pass
    finally:
        page.close()
        proc.terminate(20)
