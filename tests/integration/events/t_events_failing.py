#!/usr/bin/env python3
"""A static target whose backend dies: the first client sent to it fails
to connect and is requeued to the other one, and the target is failing,
by proxy. That change is said exactly once in each of the three places:
the log (HAProxy's style, a warning), the SSE stream (`event: target`)
and the history; the retries that fail again say nothing new. The
start-up registrations are there too, by config, and /metrics counts
them all by service, event and actor."""

import re
import time

import harness as h
from adminhttp import Api, Events, harmonyd, parse_metrics


def main():
    good = h.Backend('name', name='GOOD')
    doomed = h.Backend('name', name='DOOMED')
    hd = harmonyd('--target', doomed.target(1000), '--target', good.target(1),
                  '--requeue', '1', '--no-persistent')
    api = Api(hd.http_port)
    byname = {t['name']: t for t in api.targets()}
    dt = byname['127.0.0.1:%d' % doomed.port]
    h.check(dt['state'] == 'static' and isinstance(dt['state_since_ms_ago'], int) and
            dt['state_since_ms_ago'] >= 0, 'target %r' % dt)

    hist = api.history()
    regs = [e for e in hist if e['event'] == 'registered']
    h.check(len(regs) == 2 and all(e['by'] == 'config' and e['service'] == 'default'
                                   and e['to'] == 'static' and e['from'] is None
                                   for e in regs), 'start-up events %r' % hist)
    h.check([e['seq'] for e in hist] == sorted((e['seq'] for e in hist), reverse=True),
            'history not newest first: %r' % hist)
    e = regs[0]
    h.check(set(e) >= {'seq', 'time', 'time_ms', 'service', 'target', 'name', 'event',
                       'from', 'to', 'by', 'reason', 'latency_ms', 'weight'}, 'keys %r' % e)
    h.check(re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', e['time']) and
            abs(e['time_ms'] / 1000.0 - time.time()) < 60, 'time %r' % e)
    h.check(hd.wait_log(r'target default/%d 127\.0\.0\.1:%d registered, weight 1000 '
                        r'\(by config\)' % (dt['id'], doomed.port), 1), 'registered line')

    ev = Events(api)
    h.check(ev.wait(lambda s: True, 10) is not None, 'no snapshot')
    doomed.kill()
    # The dead one has weight 1000: tried first, then again after each backoff.
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 2.5:
        name = h.name_of(hd.port)
        h.check(name == 'GOOD', 'client %d got %r: requeue 1 hides the failure' % (n, name))
        n += 1
        time.sleep(0.1)
    line = r'target default/%d 127\.0\.0\.1:%d is FAILING \(by proxy: connect failed' % (
        dt['id'], doomed.port)
    h.check(hd.wait_log(line, 5), 'no FAILING line:\n' + hd.log_text())
    h.check(h.wait_until(lambda: any(x['event'] == 'failing' for x in ev.targets()), 5),
            'no failing event on the SSE stream: %r' % ev.events()[-5:])
    time.sleep(0.5)
    h.check(len(re.findall(line, hd.log_text())) == 1,
            'FAILING said more than once:\n' + hd.log_text())
    h.check(re.search(r'warn.*is FAILING', hd.log_text()), 'FAILING is a warning')
    sse = [x for x in ev.targets() if x['target'] == dt['id']]
    h.check([x['event'] for x in sse] == ['failing'], 'SSE events %r' % sse)
    x = sse[0]
    h.check(x['by'] == 'proxy' and x['from'] == 'static' and x['to'] == 'failing' and
            x['service'] == 'default' and x['name'] == dt['name'], 'SSE event %r' % x)
    mine = api.history('/api/v1/targets/%d' % dt['id'])
    h.check([e['event'] for e in mine] == ['failing', 'registered'], 'history %r' % mine)
    h.check(mine[0] == x, 'the history and the stream differ: %r %r' % (mine[0], x))
    t = api.target(dt['id'])
    h.check(t['state'] == 'failing' and t['state_since_ms_ago'] < 4000, 'target %r' % t)

    m = parse_metrics(api.expect(200, 'GET', '/metrics').text)
    for labels, want in ((('registered', 'config'), 2), (('failing', 'proxy'), 1)):
        key = ('harmony_target_events_total',
               '{service="default",event="%s",by="%s"}' % labels)
        h.check(m.get(key) == want, '%s = %r, wanted %d' % (key, m.get(key), want))
    h.check(('harmony_check_duration_seconds_count', '{service="default"}') in m,
            'no check histogram')
    ev.close()
    hd.stop()


h.run(main)
