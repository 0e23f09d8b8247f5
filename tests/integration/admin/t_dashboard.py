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
import html.parser
import json
import os
import threading
import time

import harness as h
from adminhttp import Api, harmonyd, web_root
from chromium import browser, dump_dom, find_chromium

TOKEN = 'dash-token-5f1c'


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
    with browser(chrome) as page:
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
    hd.stop()


h.run(main)
