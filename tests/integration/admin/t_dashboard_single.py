#!/usr/bin/env python3
"""The dashboard with one service (issue 15), in real headless Chromium,
live over SSE, against a real harmonyd: the page is what it was, with no
chrome that says nothing (no table of services, no service tag on the
panels, only the Targets and Persistence headings, the Concurrency card
and its Pause), and it says where the clients connect. An event updates
the rows in place: the rows it finds are the rows it leaves.

Skips (77) without Chromium (Debian: apt-get install chromium).
"""

import time

import harness as h
from adminhttp import Api, harmonyd, web_root
from chromium import browser, find_chromium

TOKEN = 'svc-dash-one-41c9'


def rows(page, body):
    return page.eval('Array.from(document.querySelectorAll("#%s tr"))'
                     '.map(tr => tr.dataset.targetId || tr.dataset.client)' % body)


def main():
    chrome = find_chromium()
    backends = [h.Backend('name', name=n) for n in 'AB']
    hd = harmonyd('--token', TOKEN, '--web-root', web_root())
    api = Api(hd.http_port, token=TOKEN)
    ts = [api.register(be.port) for be in backends]
    for i in range(2, 5):
        h.name_of(hd.port, source='127.0.0.%d' % i)
    with browser(chrome) as page:
        page.viewport(1280, 900)
        page.call('Page.navigate', url='http://127.0.0.1:%d/' % hd.http_port)
        page.wait('document.getElementById("conn-status").dataset.mode === "live" && '
                  'document.querySelectorAll("#targets-body tr").length === 2 && '
                  'document.querySelectorAll("#persistence-body tr").length === 3',
                  30, 'the live page with 2 targets and 3 clients')
        # Give the page the time to learn the services (with the snapshot,
        # or from GET /api/v1/services): what it shows then must not change.
        page.wait('document.getElementById("stat-algorithm").textContent'
                  '.indexOf("clients on 127.0.0.1:%d") >= 0' % hd.port, 10,
                  'the one service\'s listener in the summary line')
        for sel in ('#services-panel', '#targets-service', '#persist-service',
                    'tr[data-service]'):
            h.check(not page.visible(sel), 'one service shows %s' % sel)
        h.check(page.eval('document.getElementById("stat-concurrency-label").textContent')
                == 'Concurrency' and page.visible('#pause-toggle'),
                'one service: the Concurrency card with its Pause')
        # A harmonyd with events (issue 16) also has their timeline.
        want = ['Targets', 'Persistence']
        if api.get('/api/v1/events/history').status == 200:
            want.insert(1, 'Events')
            page.wait('!document.getElementById("events-panel").hidden', 10, 'the timeline')
        heads = page.eval('Array.from(document.querySelectorAll("h2"))'
                          '.filter(e => e.offsetParent !== null).map(e => e.textContent)')
        h.check(heads == want, 'one service: headings %r' % heads)

        # In place: the rows an event finds are the rows it leaves.
        page.eval('document.querySelectorAll("#targets-body tr, #persistence-body tr")'
                  '.forEach(tr => { tr.__kept = true; })')
        before = int(page.eval('document.body.dataset.updates'))
        for i in range(5, 9):
            h.name_of(hd.port, source='127.0.0.%d' % i)
            time.sleep(0.4)             # longer than the stream's 250 ms: one event each
        page.wait('Number(document.body.dataset.updates) >= %d && '
                  'document.querySelectorAll("#persistence-body tr").length === 7'
                  % (before + 2), 20, 'more snapshots, with the new clients')
        kept = page.eval('Array.from(document.querySelectorAll("#targets-body tr,'
                         ' #persistence-body tr")).filter(tr => tr.__kept).length')
        h.check(kept == 5, '%d of the 5 rows were kept across events (replaced rows)'
                % kept)
        h.check(sorted(rows(page, 'targets-body')) == sorted(str(t['id']) for t in ts),
                'target rows %r' % rows(page, 'targets-body'))
    hd.stop()


h.run(main)
