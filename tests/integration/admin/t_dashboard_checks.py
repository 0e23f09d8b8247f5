#!/usr/bin/env python3
"""The dashboard shows a target's health check and the timeline of events
(issue 16) in real headless Chromium, live over SSE, against a real
harmonyd: one static target with "check": {"type": "tcp", "interval":
"200ms", "fall": 1, "rise": 1} in the config file.

Pinned: the target's row says its check passes, with a latency; its
backend stopped, the row says the check fails and the target is down, and
the timeline gets the change (as GET /api/v1/events/history has it: the
same seq, once), with the target's name; the row opened lists it among its
last changes; the backend started again on the same port, the row says
passing and static again, and the timeline has the change back up.

Skips (77) without Chromium, and on a harmonyd without events or checks
(before issue 16: no GET /api/v1/events/history, no "check" on a target).
"""

import json
import os

import harness as h
from adminhttp import Api, harmonyd, web_root
from chromium import browser, find_chromium

ROW = 'tr[data-target-id="%d"]'


def main():
    chrome = find_chromium()
    be = h.Backend('name', name='A')
    port = be.port
    cf = os.path.join(h.tmpdir(), 'checked.json')
    with open(cf, 'w') as f:
        json.dump({'target': ['127.0.0.1:%d' % port],
                   'check': {'type': 'tcp', 'interval': '200ms', 'fall': 1, 'rise': 1}}, f)
    _, out, err = h.run_harmonyd('--help')
    if '--check' not in out + err:
        h.skip('this harmonyd does not check targets (no --check in --help)')
    hd = harmonyd('-c', cf, '--web-root', web_root())
    api = Api(hd.http_port)
    if api.get('/api/v1/events/history').status == 404:
        h.skip('this harmonyd keeps no events (GET /api/v1/events/history: 404)')
    t = api.targets()[0]
    if t.get('check') is None:
        h.skip('this harmonyd does not check targets (no "check" on %r)' % t)
    tid, row = t['id'], ROW % t['id']

    def history():
        return api.expect(200, 'GET', '/api/v1/events/history?limit=50').json()['events']

    def timeline():
        return page.eval('Array.from(document.querySelectorAll("#events-body tr"))'
                         '.map(tr => [Number(tr.dataset.seq), tr.dataset.event,'
                         ' tr.querySelector(\'[data-field="target"]\').textContent])')

    def change(to):
        """The history's newest event of the target becoming `to`, and the
        timeline's rows for it."""
        evs = [e for e in history() if e['target'] == tid and e.get('to') == to]
        h.check(evs, 'no event to %s in the history: %r' % (to, history()[:5]))
        seq = evs[0]['seq']
        page.wait('!!document.querySelector(\'#events-body tr[data-seq="%d"]\')' % seq, 10,
                  'the change to %s (seq %d) in the timeline' % (to, seq))
        mine = [r for r in timeline() if r[0] == seq]
        h.check(len(mine) == 1 and mine[0][2] == '%s (#%d)' % (t['name'], tid),
                'the change to %s in the timeline as %r' % (to, mine))
        return seq

    with browser(chrome) as page:
        page.viewport(1280, 900)
        page.call('Page.navigate', url='http://127.0.0.1:%d/' % hd.http_port)
        page.wait('document.getElementById("conn-status").dataset.mode === "live" && '
                  '!!document.querySelector(\'%s [data-check="passing"]\')' % row, 30,
                  'the live page with the target passing its check')
        page.wait('!document.getElementById("events-panel").hidden && '
                  'document.querySelectorAll("#events-body tr").length > 0', 10,
                  'the timeline, with the registration')
        h.check(page.visible('#targets th.col-check'), 'the Check column is shown')
        page.wait('/^passing, |^passing \\d/.test(document.querySelector(\'%s'
                  ' [data-field="check"]\').textContent)' % row, 10,
                  'a latency beside the verdict: %r' % page.fields(row, 'check'))

        be.kill()
        page.wait('!!document.querySelector(\'%s [data-check="failing"]\') && '
                  'document.querySelector(%s).dataset.state === "down"' % (row, json.dumps(row)),
                  10, 'the target failing its check and down: %r'
                  % page.fields(row, 'check', 'state'))
        down = change('down')
        page.click('button[data-action="expand"][data-target-id="%d"]' % tid)
        page.wait('!!document.querySelector(\'tr[data-detail-of="%d"] li[data-seq="%d"]\')'
                  % (tid, down), 10, 'the change down among the target\'s last changes')

        h.Backend('name', name='A2', listen='127.0.0.1:%d' % port)
        page.wait('!!document.querySelector(\'%s [data-check="passing"]\') && '
                  'document.querySelector(%s).dataset.state === "static"'
                  % (row, json.dumps(row)), 10, 'the target passing and static again')
        up = change('static')
        h.check(up > down, 'seq %d after %d' % (up, down))
        page.wait('!!document.querySelector(\'tr[data-detail-of="%d"] li[data-seq="%d"]\')'
                  % (tid, up), 10, 'the change back among the target\'s last changes')
        seqs = [r[0] for r in timeline()]
        h.check(len(seqs) == len(set(seqs)) and seqs == sorted(seqs, reverse=True),
                'the timeline: each event once, newest first: %r' % seqs)
    hd.stop()


h.run(main)
