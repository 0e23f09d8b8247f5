#!/usr/bin/env python3
"""Issue 13 item 16, the dashboard: a port-less target (a node-harmony
client that re-registered after a BID) shows as `portless`, is not counted
in "Targets up", and its row says what to do (--state-file, restart the
client). Headless Chromium's --dump-dom; skips (77) without Chromium."""

import os
import re
import shutil
import subprocess

import harness as h
from ackclient import tokens
from adminhttp import harmonyd, web_root

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
         '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--disable-dev-shm-usage', '--mute-audio']


def main():
    chrome = next((shutil.which(n) for n in ('chromium', 'chromium-browser',
                   'google-chrome', 'google-chrome-stable') if shutil.which(n)), None)
    if chrome is None:
        h.skip('Chromium is not installed (Debian: apt-get install chromium)')
    hd = harmonyd('--ack-port', '127.0.0.1:0', '--web-root', web_root())
    # What node-harmony's client sends after a BID: the old key, then NID::.
    with h.connect(hd.ack_port) as s:
        s.sendall(b'ACK:%s:NID::BYE:' % (b'0' * 32))
        got = tokens(h.recv_all(s, timeout=15))
    h.check([v for v, _ in got] == ['BID', 'NID'], 'BID then NID: %r' % got)

    udd = os.path.join(h.tmpdir(), 'chrome')
    p = subprocess.run([chrome] + FLAGS + ['--user-data-dir=' + udd,
                       '--virtual-time-budget=8000', '--window-size=1280,900',
                       '--dump-dom', 'http://127.0.0.1:%d/?transport=poll' % hd.http_port],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    h.check(p.returncode == 0, 'chromium exited %d' % p.returncode)
    dom = p.stdout.decode('utf-8', 'replace')
    row = re.search(r'<tr data-target-id="1".*?</tr>', dom, re.S)
    h.check(row is not None, 'no row for the target:\n%s' % dom[-3000:])
    row = row.group(0)
    h.check('data-state="portless"' in row, 'state portless: %s' % row)
    note = re.search(r'class="target-note"[^>]*>([^<]*)<', row)
    h.check(note is not None and '--state-file' in note.group(1) and
            'restart the client' in note.group(1), 'the row says what to do: %s' % row)
    up = re.search(r'id="stat-targets"[^>]*>([^<]*)<', dom)
    h.check(up is not None and up.group(1).split('/')[0].strip() == '0',
            '"Targets up" counts a port-less target: %r' % (up and up.group(1)))
    hd.stop()


h.run(main)
