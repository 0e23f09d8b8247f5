#!/usr/bin/env python3
"""The dashboard at 20 services of 50 targets each, in real headless
Chromium, live over SSE.

The page's side of issue 15's scale, run today: the API is a stand-in (a
Python server) whose JSON is cloned from a real harmonyd's answers (one
target, one persistence entry, one service), multiplied to 20 services of
50 targets with 5 remembered clients each; it sends a snapshot with a
"services" list every 250 ms, with the targets of every service and the
default service's persistence (docs/API.md, "Events"), and records the
writes it gets.

Pinned: every service in one table with its listeners and algorithm and a
rate; the cards sum the services; only the picked service's rows are in
the page (not 1000); a snapshot updates the rows in place and costs little
script time; Pause and Resume of a service go to its route; picking
another service shows its targets (from the snapshot) and its table (from
its route); Drain and Forget on it go to its target and to its
persistence route; a snapshot that has only the default service's
targets (all_targets False) makes the page read the picked one's from its
route; #service=NAME picks a service on load; at phone width nothing
overflows.

Skips (77) without Chromium (Debian: apt-get install chromium).
"""

import base64
import copy
import json
import os
import threading

import harness as h
from chromium import browser, find_chromium
from standin import StandIn, Subscribers, serve, stop, templates

NSVC, NTGT, NCLI = 20, 50, 5
ALGOS = ('leastconn', 'roundrobin', 'hash')
NAMES = ('web', 'api', 'auth', 'search', 'media', 'cart', 'checkout', 'payments', 'orders',
         'inventory', 'users', 'mail', 'chat', 'reports', 'ws', 'grpc-gw', 'metrics', 'logs',
         'db-ro', 'cache')


class Model(Subscribers):
    def __init__(self, tpl):
        super().__init__()
        self.lock = threading.Lock()
        self.tpl = tpl
        tpl['status']['uptime_ms'] = (3 * 24 + 4) * 3600 * 1000      # for the screenshot
        self.all_targets = True
        self.writes = []
        self.gets = []
        self.targets = {}       # service -> [target]
        self.clients = {}       # service -> [entry]
        self.services = []
        for i in range(NSVC):
            name = NAMES[i]
            ts = []
            for j in range(NTGT):
                t = copy.deepcopy(tpl['target'])
                t.update(id=i * NTGT + j + 1, service=name, host='10.%d.0.%d' % (i, j + 1),
                         port=8000 + j, state='up', weight=500, active=0, total=0)
                t['name'] = '%s:%d' % (t['host'], t['port'])
                ts.append(t)
            self.targets[name] = ts
            self.clients[name] = []
            for k in range(NCLI):
                e = copy.deepcopy(tpl['entry'])
                e.update(client='192.0.2.%d' % (k + 1), target=ts[k]['id'],
                         target_name=ts[k]['name'], hits=k + 1)
                self.clients[name].append(e)
            s = copy.deepcopy(tpl['service'])
            s.update(name=name, default=(i == 0), listeners=['127.0.0.1:%d' % (4000 + i)],
                     algorithm=ALGOS[i % 3], persistence_entries=NCLI,
                     active=i * 7 % 13)
            s['targets'] = dict(s['targets'], total=NTGT, up=NTGT)
            s['totals'] = dict(s['totals'], accepted=0)
            self.services.append(s)

    def tick(self, n):
        with self.lock:
            for i, s in enumerate(self.services):
                s['totals']['accepted'] += i            # cart (5): 20 new sessions a second
                t = self.targets[s['name']][n % NTGT]
                t['total'] += 1

    def table(self, name):
        es = self.clients[name]
        return {'count': len(es), 'truncated': False, 'entries': es}

    def snapshot(self):
        with self.lock:
            return json.dumps({'status': self.tpl['status'], 'config': self.tpl['config'],
                               'targets': sum(self.targets.values(), []) if
                               self.all_targets else self.targets['web'],
                               'persistence': self.table('web'),
                               'services': self.services})

    def find(self, tid):
        for ts in self.targets.values():
            for t in ts:
                if t['id'] == tid:
                    return t
        return None


class Handler(StandIn):
    def route(self, method, path, query, body):
        m = self.server.model
        parts = path.split('/')
        if method == 'GET':
            if path == '/api/v1/services':
                return 200, {'services': m.services}
            if path == '/api/v1/status':
                return 200, m.tpl['status']
            if path == '/api/v1/config':
                return 200, m.tpl['config']
            if len(parts) == 6 and parts[3] == 'services' and parts[4] in m.targets:
                if parts[5] == 'targets':
                    return 200, {'targets': m.targets[parts[4]]}
                if parts[5] == 'persistence':
                    return 200, m.table(parts[4])
            return None
        if method == 'DELETE':
            return 204, None
        if method != 'PATCH':
            return None
        if len(parts) == 5 and parts[3] == 'services':
            svc = [x for x in m.services if x['name'] == parts[4]][0]
            svc.update(concurrency=body['concurrency'], paused=body['concurrency'] == 0)
            return 200, svc
        t = m.find(int(parts[4])) if len(parts) == 5 and parts[3] == 'targets' else None
        if t is None:
            return 404, {'error': 'not a target'}
        t.update(body)
        return 200, t


def ticking(model):
    """Traffic, 4 ticks a second, until the returned event is set."""
    done = threading.Event()

    def ticker():
        n = 0
        while not done.wait(0.25):
            model.tick(n)
            n += 1
    threading.Thread(target=ticker, daemon=True).start()
    return done


def script_seconds(page):
    metrics = page.call('Performance.getMetrics')['metrics']
    return {m['name']: m['value'] for m in metrics}['ScriptDuration']


def main():
    chrome = find_chromium()
    model = Model(templates())
    srv = serve(model, Handler)
    ticks = ticking(model)
    base = 'http://127.0.0.1:%d/' % srv.server_address[1]
    with browser(chrome) as page:
            page.viewport(1280, 900)
            page.call('Performance.enable')
            page.call('Page.navigate', url=base)
            page.wait('document.getElementById("conn-status").dataset.mode === "live" && '
                      'document.querySelectorAll("#services-body tr").length === %d && '
                      'document.querySelectorAll("#targets-body tr").length === %d'
                      % (NSVC, NTGT), 30, 'the live page with %d services' % NSVC)
            for s in model.services:
                f = page.fields('tr[data-service="%s"]' % s['name'], 'listeners', 'algorithm',
                                'targets')
                got = [f['listeners'], f['algorithm'], f['targets']]
                h.check(got[0] == s['listeners'][0] and got[1].split(',')[0] == s['algorithm'] and
                        got[2] == '%d / %d' % (NTGT, NTGT), '%s row %r' % (s['name'], got))
            h.check(page.eval('document.getElementById("stat-concurrency-label").textContent')
                    == 'Services' and
                    page.eval('document.getElementById("stat-concurrency").textContent') == '20',
                    'the Services card')
            h.check(page.eval('document.getElementById("stat-targets").textContent')
                    == '1,000 / 1,000', 'the cards sum the services\' targets')
            trs = page.eval('document.querySelectorAll("tr").length')
            h.check(trs <= NSVC + NTGT + NCLI + 3, '%d rows in the page: more than the picked'
                    ' service\'s' % trs)
            page.wait('parseFloat(document.querySelector(\'tr[data-service="cart"]'
                      ' [data-field="rate"]\').textContent) >= 10', 10, 'cart\'s rate (20/s)')

            # Snapshots: in place, and cheap.
            page.eval('document.querySelectorAll("tr").forEach(tr => { tr.__kept = true; })')
            n0, s0 = int(page.eval('document.body.dataset.updates')), script_seconds(page)
            page.wait('Number(document.body.dataset.updates) >= %d' % (n0 + 16), 20,
                      '16 more snapshots')
            n1, s1 = int(page.eval('document.body.dataset.updates')), script_seconds(page)
            per = (s1 - s0) / (n1 - n0)
            h.log('%.1f ms of script per snapshot of %d services, %d targets'
                  % (per * 1000, NSVC, NSVC * NTGT))
            h.check(per < 0.05, '%.1f ms of script per snapshot' % (per * 1000))
            kept = page.eval('Array.from(document.querySelectorAll("tr"))'
                             '.filter(tr => !tr.__kept).length')
            h.check(kept == 0, '%d rows replaced by snapshots' % kept)

            page.call('Input.dispatchMouseEvent', type='mouseMoved', x=1, y=1)
            shot = base64.b64decode(page.call('Page.captureScreenshot', format='png')['data'])
            out = os.environ.get('DASHBOARD_SCALE_PNG') or os.path.join(h.tmpdir(), 'scale.png')
            with open(out, 'wb') as f:
                f.write(shot)
            h.log('screenshot: %s (%d bytes)' % (out, len(shot)))

            # Phone width: the table of services scrolls inside its panel.
            page.viewport(390, 844, mobile=True)
            page.wait('document.documentElement.scrollWidth <= 392', 10,
                      'no horizontal overflow at 390 px (scrollWidth %s)'
                      % page.eval('document.documentElement.scrollWidth'))
            page.viewport(1280, 900)

            # Pause one service, and Resume it.
            sel = 'button[data-action="pause-service"][data-service="cart"]'
            page.click(sel)
            h.check(h.wait_until(lambda: ('PATCH', '/api/v1/services/cart', {'concurrency': 0})
                                 in model.writes, 10), 'Pause went out as %r' % model.writes)
            page.wait('document.querySelector(%s).dataset.paused === "true"' % json.dumps(sel),
                      10, 'cart shown paused')
            page.click(sel)
            h.check(h.wait_until(lambda: ('PATCH', '/api/v1/services/cart', {'concurrency': -1})
                                 in model.writes, 10), 'Resume went out as %r' % model.writes)

            # Another service: read from its routes, acted on through them.
            page.click('button[data-action="select-service"][data-service="reports"]')
            ids = [t['id'] for t in model.targets['reports']]
            page.wait('Array.from(document.querySelectorAll("#targets-body tr"))'
                      '.map(tr => Number(tr.dataset.targetId)).join() === "%s" && '
                      'document.querySelectorAll("#persistence-body tr").length === %d'
                      % (','.join(map(str, ids)), NCLI), 10, 'reports\'s targets and clients')
            h.check(page.eval('document.querySelector(\'#persistence-body tr[data-client='
                              '"192.0.2.2"]\').dataset.targetId') == str(ids[1]),
                    'a client of reports shows reports\'s target')
            h.check('/api/v1/services/reports/persistence' in model.gets and
                    '/api/v1/services/reports/targets' not in model.gets,
                    'reports\'s table read from its route, its targets from the snapshot: %r'
                    % model.gets[-5:])
            tid = ids[7]
            page.click('button[data-action="drain"][data-target-id="%d"]' % tid)
            h.check(h.wait_until(lambda: ('PATCH', '/api/v1/targets/%d' % tid,
                                          {'state': 'draining'}) in model.writes, 10),
                    'Drain went out as %r' % model.writes)
            page.wait('document.querySelector(\'tr[data-target-id="%d"]\').dataset.state'
                      ' === "draining"' % tid, 10, 'the draining state shown')
            page.click('button[data-action="forget"][data-client="192.0.2.3"]')
            h.check(h.wait_until(lambda: ('DELETE', '/api/v1/services/reports/persistence/192.0.2.3',
                                          None) in model.writes, 10),
                    'Forget went out as %r' % model.writes)
            h.check(page.eval('location.hash') == '#service=reports', 'the pick is kept in the URL')

            with model.lock:
                model.all_targets = False
            n = int(page.eval('document.body.dataset.updates'))
            page.wait('Number(document.body.dataset.updates) >= %d' % (n + 2), 10,
                      'snapshots with the default service\'s targets only')
            page.click('tr[data-service="ws"] [data-field="algorithm"]')
            ids = [t['id'] for t in model.targets['ws']]
            page.wait('Array.from(document.querySelectorAll("#targets-body tr"))'
                      '.map(tr => Number(tr.dataset.targetId)).join() === "%s"'
                      % ','.join(map(str, ids)), 10, 'ws\'s targets from its route')
            h.check('/api/v1/services/ws/targets' in model.gets, 'ws\'s targets from its route')
            with model.lock:
                model.all_targets = True

            # A new load (the query differs), not a move within the page.
            page.call('Page.navigate', url=base + '?again#service=payments')
            page.wait('document.querySelector(\'tr[data-service="payments"]\')'
                      '?.dataset.selected === "yes" && '
                      'document.querySelector(\'#targets-body tr[data-target-id="%d"]\')'
                      % model.targets['payments'][0]['id'], 20, '#service=payments picks payments on load')
    ticks.set()
    stop(srv)


h.run(main)
