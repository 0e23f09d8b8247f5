#!/usr/bin/env python3
"""The dashboard with two services (issue 15), in real headless Chromium,
live over SSE, against a real harmonyd (a config file with "services"):
both are in the table of services with their listeners as bound and
their algorithms; the default one is picked first; picking the second
shows its targets and persistence table only, and its Drain and Forget
reach it (checked over REST), leaving the other's alone. One service: t_dashboard_single.py.

Skips (77) without Chromium (Debian: apt-get install chromium).
"""

import base64
import json
import os

import harness as h
from adminhttp import Api, harmonyd, web_root
from chromium import browser, find_chromium

TOKEN = 'svc-dash-7d2e'


def two_services(chrome):
    cf = os.path.join(h.tmpdir(), 'two.json')
    with open(cf, 'w') as f:
        json.dump({'default': 'web', 'services': {
            'web': {'listen': '127.0.0.1:0', 'balance': 'roundrobin'},
            'api': {'listen': '127.0.0.1:0', 'balance': 'hash'}}}, f)
    # The clients line is the default service's (web's).
    hd = harmonyd('-c', cf, '--ack-port', '0', '--token', TOKEN, '--web-root', web_root(),
                  base=False)
    port = hd.http_port
    api = Api(port, token=TOKEN)
    svcs = {s['name']: s for s in api.expect(200, 'GET', '/api/v1/services').json()['services']}
    h.check(sorted(svcs) == ['api', 'web'], 'services %r' % sorted(svcs))
    h.check(svcs['web']['default'] and svcs['web']['algorithm'] == 'roundrobin' and
            svcs['api']['algorithm'] == 'hash', 'services %r' % svcs)
    a, b, c = (h.Backend('name', name=n) for n in 'ABC')
    web = api.expect(201, 'POST', '/api/v1/services/web/targets', {'port': a.port}).json()
    apis = [api.expect(201, 'POST', '/api/v1/services/api/targets', {'port': be.port}).json()
            for be in (b, c)]
    api_port = int(svcs['api']['listeners'][0].rsplit(':', 1)[1])
    h.check(h.name_of(api_port, source='127.0.0.9') in ('B', 'C'),
            'a client of api is served by one of its targets')
    h.check(h.name_of(hd.port, source='127.0.0.8') == 'A', 'a client of web served by A')

    with browser(chrome) as page:
        page.viewport(1280, 900)
        page.call('Page.navigate', url='http://127.0.0.1:%d/' % port)
        page.wait('document.getElementById("conn-status").dataset.mode === "live" && '
                  'document.querySelectorAll("#services-body tr").length === 2',
                  30, 'the live page with 2 services')
        h.check(page.visible('#services-panel'), 'the table of services is shown')
        for name, s in svcs.items():
            row = page.fields('tr[data-service="%s"]' % name, 'listeners', 'algorithm')
            h.check(row['listeners'] == ', '.join(s['listeners']), '%s listeners %r, API %r'
                    % (name, row['listeners'], s['listeners']))
            h.check(row['algorithm'].split(',')[0] == s['algorithm'], '%s algorithm %r'
                    % (name, row['algorithm']))
        page.wait('document.querySelector(\'tr[data-service="api"] [data-field="targets"]\')'
                  '.textContent === "2 / 2"', 10, 'api with its 2 targets up')
        # The default service is picked first: only its targets are rows.
        page.wait('document.querySelectorAll("#targets-body tr").length === 1 && '
                  'document.querySelector(\'#targets-body tr[data-target-id="%d"]\')'
                  % web['id'], 10, 'web\'s one target')
        h.check(page.eval('document.getElementById("targets-service").textContent') == 'web',
                'the targets panel names web')
        page.wait('Array.from(document.querySelectorAll("#persistence-body tr"))'
                  '.map(tr => tr.dataset.client).join() === "127.0.0.8"', 10,
                  'web\'s persistence table: its client only')

        page.click('button[data-action="select-service"][data-service="api"]')
        want = sorted(str(t['id']) for t in apis)
        page.wait('Array.from(document.querySelectorAll("#targets-body tr"))'
                  '.map(tr => tr.dataset.targetId).sort().join() === "%s"' % ','.join(want),
                  10, 'api\'s targets %r once api is picked' % want)
        page.wait('Array.from(document.querySelectorAll("#persistence-body tr"))'
                  '.map(tr => tr.dataset.client).join() === "127.0.0.9"', 10,
                  'api\'s persistence table: its client only')

        page.type_into('#token-input', TOKEN)
        page.wait('document.getElementById("token-status").dataset.set === "yes"', 10,
                  'the token taken')
        tid = apis[1]['id']
        page.click('button[data-action="drain"][data-target-id="%d"]' % tid)
        h.check(h.wait_until(lambda: api.target(tid)['state'] == 'draining', 10),
                'Drain on a target of api did not reach it')
        h.check(api.target(tid)['service'] == 'api', 'the drained target is api\'s')
        h.check(api.target(web['id'])['state'] == 'up', 'web\'s target was left alone')
        page.wait('document.querySelector(\'tr[data-target-id="%d"]\').dataset.state'
                  ' === "draining"' % tid, 10, 'the draining state shown')

        page.click('button[data-action="forget"][data-client="127.0.0.9"]')
        h.check(h.wait_until(lambda: api.expect(200, 'GET', '/api/v1/services/api/persistence')
                             .json()['count'] == 0, 10), 'Forget did not reach api\'s table')
        h.check([e['client'] for e in api.expect(200, 'GET', '/api/v1/services/web/persistence')
                 .json()['entries']] == ['127.0.0.8'], 'Forget on api left web\'s table alone')

        page.eval('document.activeElement && document.activeElement.blur(), '
                  'window.scrollTo(0, 0), document.getElementById("notice").hidden = true')
        shot = base64.b64decode(page.call('Page.captureScreenshot', format='png')['data'])
        out = os.environ.get('DASHBOARD_SERVICES_PNG') or os.path.join(h.tmpdir(),
                                                                       'services.png')
        with open(out, 'wb') as f:
            f.write(shot)
        h.log('screenshot: %s (%d bytes)' % (out, len(shot)))
    hd.stop()


def main():
    two_services(find_chromium())


h.run(main)
