#!/usr/bin/env python3
"""The dashboard's operator view of issue 16 in real headless Chromium,
live over SSE, against a stand-in (tests/lib/standin.py) that answers
with issue 16's shapes: targets with a "check" object and
"state_since_ms_ago", the events history routes, and `event: target` on
the stream. Two services: web (three targets, checked) and api (one,
unchecked).

Pinned: each web target shows its check's verdict and latency and its
time in state; api's (no check) has no Check column at all; a target's
sessions per second follow its "total"; the timeline has the history
read at load (200, newest first) and the stream's target events on top,
at most 500; it filters by service; a check event says failed; `event:
resync` makes the page read the history again; hostile text (a reason, a target's
name) is shown as text; opening a target's row reads its last 5 changes
once (not per snapshot), and a target event for it goes on top of them;
at 420 px (and 1280) no row's actions are out of view and nothing
overflows; polling (?transport=poll), the timeline is read from the history.

Skips (77) without Chromium (Debian: apt-get install chromium).
"""

import copy
import json
import threading
import time

import harness as h
from chromium import browser, find_chromium
from standin import StandIn, Subscribers, serve, stop, templates

IMG = '<img/src=x/onerror=window.pwned=1>&amp;'
SVG = '<svg/onload=window.pwned=2>'
T0 = 1764558765123                      # ISSUE16.md's example: 2025-12-01T03:12:45.123Z
NHIST = 600


def iso(ms):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ms // 1000)) + '.%03dZ' % (ms % 1000)


class Model(Subscribers):
    def __init__(self, tpl):
        super().__init__()
        self.lock = threading.Lock()
        self.tpl = tpl
        self.gets, self.writes = [], []
        self.services = []
        for name in ('web', 'api'):
            s = copy.deepcopy(tpl['service'])
            s.update(name=name, default=name == 'web', listeners=['127.0.0.1:0'])
            self.services.append(s)
        checks = [
            {'status': 'passing', 'latency_ms': 3, 'last_ms_ago': 1200, 'reason': None,
             'rise': 2, 'fall': 3, 'successes': 5, 'failures': 0},
            {'status': 'failing', 'latency_ms': None, 'last_ms_ago': 800,
             'reason': 'Layer4 connection problem: ' + IMG, 'rise': 2, 'fall': 3,
             'successes': 0, 'failures': 3},
            {'status': 'pending', 'latency_ms': None, 'last_ms_ago': None, 'reason': None,
             'rise': 2, 'fall': 3, 'successes': 0, 'failures': 0},
            None]
        self.targets = []
        for i, c in enumerate(checks):
            t = copy.deepcopy(tpl['target'])
            t.update(id=i + 1, service='web' if i < 3 else 'api', host='10.0.0.%d' % (i + 1),
                     port=9000 + i, state='down' if i == 1 else 'up', weight=500,
                     active=0, total=0, failures=i * 2, check=c,
                     state_since_ms_ago=(i + 1) * 65000)
            t['name'] = '%s:%d' % (t['host'], t['port'])
            self.targets.append(t)
        self.events = []
        for seq in range(1, NHIST + 1):
            t = self.targets[seq % 4]
            self.events.append(self.event(t, 'down' if seq % 2 else 'up', seq))
        self.events[-2]['reason'] = 'check said ' + IMG            # seq 599
        self.events[-2]['name'] = SVG

    def event(self, t, what, seq):
        ms = T0 + seq * 1000
        return {'seq': seq, 'time': iso(ms), 'time_ms': ms, 'service': t['service'],
                'target': t['id'], 'name': t['name'], 'event': what,
                'from': 'up' if what == 'down' else 'down', 'to': what, 'by': 'check',
                'reason': 'Layer4 connection problem: connection refused' if what == 'down'
                else None, 'latency_ms': None if what == 'down' else 2, 'weight': None}

    def push(self, tid, what, **more):
        """A new event of target tid, on the stream (and in the history)."""
        with self.lock:
            t = self.targets[tid - 1]
            e = self.event(t, what, self.events[-1]['seq'] + 1)
            e.update(more)
            self.events.append(e)
        self.publish('target', e)
        return e

    def history(self, query, keep=lambda e: True):
        limit = int(query.get('limit', ['100'])[0])
        return {'events': [e for e in reversed(self.events) if keep(e)][:limit], 'dropped': 0}

    def tick(self):
        with self.lock:
            self.targets[0]['total'] += 1      # 4 new sessions a second
            for t in self.targets:
                t['state_since_ms_ago'] += 250

    def snapshot(self):
        with self.lock:
            return json.dumps({'status': self.tpl['status'], 'config': self.tpl['config'],
                               'targets': self.targets,
                               'persistence': {'count': 0, 'truncated': False, 'entries': []},
                               'services': self.services})


class Handler(StandIn):
    def route(self, method, path, query, body):
        m = self.server.model
        p = path.split('/')
        if method != 'GET':
            return None
        if path == '/api/v1/events/history':
            return 200, m.history(query)
        if len(p) == 7 and p[3] == 'targets' and p[5:] == ['events', 'history']:
            return 200, m.history(query, lambda e: str(e['target']) == p[4])
        if len(p) == 7 and p[3] == 'services' and p[5:] == ['events', 'history']:
            return 200, m.history(query, lambda e: e['service'] == p[4])
        if path == '/api/v1/services':
            return 200, {'services': m.services}
        if path in ('/api/v1/status', '/api/v1/config'):
            return 200, m.tpl[p[3]]
        if path == '/api/v1/targets':
            return 200, {'targets': m.targets}
        if path == '/api/v1/persistence':
            return 200, {'count': 0, 'truncated': False, 'entries': []}
        if len(p) == 6 and p[3] == 'services':
            if p[5] == 'targets':
                return 200, {'targets': [t for t in m.targets if t['service'] == p[4]]}
            if p[5] == 'persistence':
                return 200, {'count': 0, 'truncated': False, 'entries': []}
        return None


def main():
    chrome = find_chromium()
    model = Model(templates())
    srv = serve(model, Handler)
    ticking = threading.Event()

    def ticker():
        while not ticking.wait(0.25):
            model.tick()
    threading.Thread(target=ticker, daemon=True).start()
    base = 'http://127.0.0.1:%d/' % srv.server_address[1]
    with browser(chrome) as page:
        page.viewport(1280, 900)
        page.call('Page.navigate', url=base)
        page.wait('document.getElementById("conn-status").dataset.mode === "live" && '
                  'document.querySelectorAll("#targets-body tr").length === 3 && '
                  'document.querySelectorAll("#events-body tr").length === 200', 30,
                  'the live page with web\'s 3 targets and 200 events')

        # Checks and time in state.
        h.check(page.visible('#targets th.col-check') and page.visible('#targets th.col-since'),
                'the Check and For columns are shown')
        want = {1: ('passing', 'passing 3 ms'), 2: ('failing', 'failing'),
                3: ('pending', 'pending')}
        for tid, (status, text) in want.items():
            sel = 'tr[data-target-id="%d"]' % tid
            f = page.fields(sel, 'check', 'since', 'state')
            h.check(f['check'] == text, 'target %d check %r, not %r' % (tid, f['check'], text))
            h.check(page.eval('document.querySelector(\'%s [data-field="check"]\')'
                              '.dataset.check' % sel) == status, 'target %d check status' % tid)
            h.check(f['since'].startswith('%dm ' % (65 * tid // 60)),
                    'target %d in state for %r' % (tid, f['since']))
        h.check(page.eval('document.querySelector(\'tr[data-target-id="2"] [data-field="check"]\')'
                          '.title') == 'Layer4 connection problem: ' + IMG,
                'the failing check says why, as text')
        page.wait('parseFloat(document.querySelector(\'tr[data-target-id="1"]'
                  ' [data-field="rate"]\').textContent) >= 2', 15,
                  'target 1\'s rate (4/s): %r' % page.fields('tr[data-target-id="1"]', 'rate'))
        h.check(page.fields('tr[data-target-id="2"]', 'rate')['rate'] == '0.0/s',
                'target 2 has no new sessions')

        # The timeline: newest first, the hostile one as text.
        seqs = page.eval('Array.from(document.querySelectorAll("#events-body tr"))'
                         '.map(tr => Number(tr.dataset.seq))')
        h.check(seqs == list(range(NHIST, NHIST - 200, -1)), 'timeline order %r' % seqs[:5])
        f = page.fields('#events-body tr[data-seq="599"]', 'target', 'detail', 'event', 'by')
        h.check(f['target'] == '%s (#%d)' % (SVG, model.events[-2]['target']) and
                f['detail'] == 'check said ' + IMG and f['by'] == 'check',
                'the hostile event as text: %r' % f)
        f = page.fields('#events-body tr[data-seq="600"]', 'time', 'service', 'change', 'detail')
        h.check(f['service'] == 'web' and f['change'] == 'down → up' and f['detail'] == '2 ms',
                'event 600 shown as %r' % f)
        h.check(page.eval('document.querySelector(\'#events-body tr[data-seq="600"]'
                          ' [data-field="time"]\').title') == iso(T0 + 600 * 1000),
                'the time in UTC as the title')
        h.check(page.eval('document.querySelectorAll("#events-body img, #events-body svg,'
                          ' #targets-body img").length === 0 && window.pwned === undefined'),
                'markup from the server became elements')

        # The stream's events go on top; the page keeps 500.
        for i in range(400):
            model.push(1 + i % 4, 'down' if i % 2 else 'up')
        top = model.events[-1]['seq']
        page.wait('document.querySelector("#events-body tr").dataset.seq === "%d" && '
                  'document.querySelectorAll("#events-body tr").length === 500' % top, 15,
                  'the stream\'s 400 events in the timeline, 500 kept')
        seqs = page.eval('Array.from(document.querySelectorAll("#events-body tr"))'
                         '.map(tr => Number(tr.dataset.seq))')
        h.check(seqs == list(range(top, top - 500, -1)), 'timeline %r..%r' % (seqs[0], seqs[-1]))
        h.check('the last 500' in page.eval('document.getElementById("events-count").textContent'),
                'the count says the timeline is bounded')

        # Filtered by service.
        h.check(page.visible('#events-filter'), 'a service filter (two services)')
        page.eval('(() => { const s = document.getElementById("events-filter");'
                  ' s.value = "api"; s.dispatchEvent(new Event("change")); })()')
        shown = page.eval('Array.from(document.querySelectorAll("#events-body tr"))'
                          '.filter(tr => !tr.hidden).map(tr => tr.dataset.ofService)')
        h.check(shown and set(shown) == {'api'} and len(shown) == 125,
                'the api filter shows %d rows of %r' % (len(shown), set(shown)))
        page.eval('(() => { const s = document.getElementById("events-filter");'
                  ' s.value = ""; s.dispatchEvent(new Event("change")); })()')

        # A check's verdict; a resync (the stream skipped events) reads the history.
        e = model.push(3, 'check', passed=False, latency_ms=1000, reason='Layer4 timeout',
                       **{'from': None, 'to': None})
        sel = '#events-body tr[data-seq="%d"]' % e['seq']
        page.wait('!!document.querySelector(%s)' % json.dumps(sel), 10, 'the check event')
        f = page.fields(sel, 'event', 'change', 'detail')
        h.check(f == {'event': 'check', 'change': 'failed', 'detail': 'Layer4 timeout, 1000 ms'}
                and page.eval('document.querySelector(%s).querySelector(".ev-failed") !== null'
                              % json.dumps(sel)), 'the failed check shown as %r' % f)
        reads = model.gets.count('/api/v1/events/history')
        model.publish('resync', {'missed': 1500})
        h.check(h.wait_until(lambda: model.gets.count('/api/v1/events/history') > reads, 10),
                'a resync did not make the page read the history')

        # A target opened: its last changes, read once.
        path = '/api/v1/targets/2/events/history'
        page.click('button[data-action="expand"][data-target-id="2"]')
        page.wait('document.querySelectorAll(\'tr[data-detail-of="2"] .history-list li\')'
                  '.length === 5', 10, 'target 2\'s last 5 changes')
        hist = page.eval('Array.from(document.querySelectorAll(\'tr[data-detail-of="2"]'
                         ' .history-list li\')).map(li => Number(li.dataset.seq))')
        mine = [e['seq'] for e in reversed(model.events) if e['target'] == 2][:5]
        h.check(hist == mine, 'target 2\'s history %r, not %r' % (hist, mine))
        text = page.eval('document.querySelector(\'tr[data-detail-of="2"]\').textContent')
        h.check('Layer4 connection problem: ' + IMG in text and 'Connect failures' in text,
                'the details say the check\'s reason and the failures: %r' % text[:300])
        n = int(page.eval('document.body.dataset.updates'))
        page.wait('Number(document.body.dataset.updates) >= %d' % (n + 8), 10, '8 snapshots')
        h.check(model.gets.count(path) == 1, '%d reads of %s over 8 snapshots'
                % (model.gets.count(path), path))
        h.check(not [g for g in model.gets if g.endswith('/events/history') and g != path and
                     g != '/api/v1/events/history'], 'another target\'s history was read')
        e = model.push(2, 'up')
        page.wait('document.querySelector(\'tr[data-detail-of="2"] .history-list li\')'
                  '.dataset.seq === "%d"' % e['seq'], 10, 'the new event on top of target 2\'s')
        h.check(page.eval('document.querySelectorAll(\'tr[data-detail-of="2"] .history-list li\')'
                          '.length') == 5, 'still the last 5')

        page.call('Input.dispatchMouseEvent', type='mouseMoved', x=1, y=1)
        out, width = page.out_of_view(1280)
        h.check(not out and width <= 1280, 'at 1280 px: actions out of view %r, page %d px wide'
                % (out, width))
        page.screenshot('DASHBOARD_EVENTS_PNG', 'events.png')
        page.eval('document.getElementById("events-panel").scrollIntoView()')
        page.screenshot('DASHBOARD_TIMELINE_PNG', 'timeline.png')

        # Phone width: every row's actions in view, nothing wider than the screen.
        page.viewport(420, 800, mobile=True)
        time.sleep(0.5)
        page.screenshot('DASHBOARD_NARROW_PNG', 'narrow.png')
        out, width = page.out_of_view(420)
        h.check(not out and width <= 420, 'at 420 px: actions out of view %r, page %d px wide'
                % (out, width))
        h.check(page.visible('tr[data-target-id="1"] [data-field="check"]'),
                'the check shown at 420 px')
        page.viewport(1280, 900)

        # A service whose targets have no check: no Check column.
        page.click('button[data-action="select-service"][data-service="api"]')
        page.wait('document.querySelectorAll("#targets-body tr").length === 1 && '
                  'document.getElementById("targets").dataset.checks === "no"', 10,
                  'api\'s one target, unchecked')
        h.check(not page.visible('#targets th.col-check') and
                not page.visible('tr[data-target-id="4"] [data-field="check"]'),
                'a Check column for targets without checks')

        # Polling (no stream): the timeline from the history, kept current.
        page.call('Page.navigate', url=base + '?transport=poll')
        page.wait('document.getElementById("conn-status").dataset.mode === "polling" && '
                  'document.querySelectorAll("#events-body tr").length === 200', 20,
                  'the polling page with 200 events')
        e = model.push(3, 'down')
        page.wait('document.querySelector("#events-body tr").dataset.seq === "%d"' % e['seq'],
                  10, 'a new event read by polling')
    ticking.set()
    stop(srv)


h.run(main)
