#!/usr/bin/env python3
"""A target registered over HTTP that stops heartbeating: registered by
http, then down by heartbeat after its timeout, then removed by
heartbeat after ten times that; each once, in order, in the log, the SSE
stream and the history (which still has the removed target's events).
A heartbeat in between brings it back up, by http."""

import re

import harness as h
from adminhttp import Api, Events, harmonyd


def main():
    be = h.Backend('name', name='B')
    hd = harmonyd('--host-timeout', '1s')
    api = Api(hd.http_port)
    ev = Events(api)
    h.check(ev.wait(lambda s: True, 10) is not None, 'no snapshot')
    t = api.register(be.port)
    tid = t['id']
    h.check(hd.wait_log(r'target default/%d 127\.0\.0\.1:%d is DOWN \(by heartbeat: '
                        r'no heartbeat for' % (tid, be.port), 5), 'no DOWN line:\n'
            + hd.log_text())
    api.expect(204, 'POST', '/api/v1/targets/%d/ack' % tid)
    h.check(hd.wait_log(r'target default/%d \S+ is UP \(by http\)' % tid, 5),
            'no UP line:\n' + hd.log_text())
    h.check(h.wait_until(lambda: len(re.findall(r'target default/%d \S+ is DOWN' % tid,
                                                hd.log_text())) == 2, 5), 'not down again')
    h.check(hd.wait_log(r'target default/%d \S+ is REMOVED \(by heartbeat: down for'
                        % tid, 15), 'no REMOVED line:\n' + hd.log_text())
    h.check(api.get('/api/v1/targets/%d' % tid).status == 404, 'still listed')

    want = [('registered', 'http', None, 'up'), ('down', 'heartbeat', 'up', 'down'),
            ('up', 'http', 'down', 'up'), ('down', 'heartbeat', 'up', 'down'),
            ('removed', 'heartbeat', 'down', None)]
    hist = api.history('/api/v1/targets/%d' % tid)
    got = [(e['event'], e['by'], e['from'], e['to']) for e in reversed(hist)]
    h.check(got == want, 'history %r' % got)
    h.check(h.wait_until(lambda: len(ev.targets()) >= len(want), 5), 'SSE short')
    sse = [x for x in ev.targets() if x['target'] == tid]
    h.check([(e['event'], e['by'], e['from'], e['to']) for e in sse] == want,
            'SSE %r' % sse)
    h.check([e['seq'] for e in sse] == [e['seq'] for e in reversed(hist)],
            'the stream and the history disagree on seq')
    text = hd.log_text()
    for word in ('registered', 'is DOWN', 'is UP', 'is REMOVED'):
        n = len(re.findall(r'target default/%d \S+ %s' % (tid, word), text))
        h.check(n == (2 if word == 'is DOWN' else 1), '%r said %d times' % (word, n))
    ev.close()
    hd.stop()


h.run(main)
