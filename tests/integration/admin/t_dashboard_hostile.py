#!/usr/bin/env python3
"""The dashboard inserts what it is told as text, never as HTML, in real
headless Chromium against a real harmonyd.

harmonyd writes only addresses it parsed into a target's host and a
persistence entry's client, so markup cannot come from it today; what the
page must withstand is any text there. So a target is registered for
real, a client is served (a persistence entry), and the page's API
answers are rewritten on their way in (the DevTools protocol's Fetch
domain): the target's host, name and note, the entry's client and target
name become markup (`<img/src=x/onerror=...>`, `&amp;`). The page, polling
(?transport=poll: the answers it fetches are the ones rewritten), shows
each as text in its cell and in the notice of a Drain; no element comes
of it, no handler runs, and Drain still reaches harmonyd.

Skips (77) without Chromium.
"""

import base64
import json

import harness as h
from adminhttp import Api, harmonyd, web_root
from chromium import browser, find_chromium

IMG = '<img/src=x/onerror=window.pwned=1>&amp;'
SVG = '<svg/onload=window.pwned=2>'


def hostile(t):
    t['host'] = IMG
    t['name'] = '%s:%d' % (IMG, t['port'])
    t['note'] = 'note ' + SVG


def rewrite(path, data):
    if isinstance(data, dict) and isinstance(data.get('targets'), list):
        for t in data['targets']:
            hostile(t)
    if isinstance(data, dict) and isinstance(data.get('entries'), list):
        for e in data['entries']:
            e['client'] = SVG + e['client']
            e['target_name'] = '%s:%s' % (IMG, e['target_name'].rsplit(':', 1)[1])
    return data


def main():
    chrome = find_chromium()
    be = h.Backend('name', name='A')
    hd = harmonyd('--web-root', web_root())
    api = Api(hd.http_port)
    t = api.register(be.port)
    h.check(h.name_of(hd.port, source='127.0.0.2') == 'A', 'a client served')
    shown = '%s:%d' % (IMG, t['port'])
    base = 'http://127.0.0.1:%d/' % hd.http_port

    with browser(chrome) as page:
        seen = []

        def paused(p):
            rid, url = p['requestId'], p['request']['url']
            if p.get('responseStatusCode') != 200 or p['request']['method'] != 'GET':
                page.call('Fetch.continueRequest', requestId=rid)
                return
            r = page.call('Fetch.getResponseBody', requestId=rid)
            body = base64.b64decode(r['body']) if r.get('base64Encoded') else r['body'].encode()
            data = rewrite(url, json.loads(body))
            seen.append(url)
            page.call('Fetch.fulfillRequest', requestId=rid, responseCode=200,
                      responseHeaders=[{'name': 'Content-Type', 'value': 'application/json'},
                                       {'name': 'Cache-Control', 'value': 'no-store'}],
                      body=base64.b64encode(json.dumps(data).encode()).decode())

        page.on('Fetch.requestPaused', paused)
        page.call('Fetch.enable', patterns=[{'urlPattern': '*/api/v1/*',
                                             'requestStage': 'Response'}])
        page.call('Page.navigate', url=base + '?transport=poll')
        row = 'tr[data-target-id="%d"]' % t['id']
        page.wait('document.getElementById("conn-status").dataset.mode === "polling" && '
                  'document.querySelectorAll("#persistence-body tr").length === 1 && '
                  '!!document.querySelector(%s)' % json.dumps(row), 30,
                  'the page with the target and its persistence entry')
        h.check(any('/api/v1/targets' in u for u in seen), 'no answer rewritten: %r' % seen)
        got = page.fields(row, 'note', 'name')
        got.update(page.fields('#persistence-body tr', 'client', 'target'))
        got['name'] = page.eval('document.querySelector(%s).querySelector(".mono").textContent'
                                % json.dumps(row))
        got['html'] = page.eval('document.querySelector(%s).innerHTML + document.querySelector('
                                '"#persistence-body tr").innerHTML' % json.dumps(row))
        h.check(got['name'] == shown, 'the target\'s name shown %r' % got['name'])
        h.check(got['note'] == 'note ' + SVG, 'its note shown %r' % got['note'])
        h.check(got['client'] == SVG + '127.0.0.2', 'the client shown %r' % got['client'])
        h.check(got['target'].startswith(shown + ' (#'), 'the entry\'s target %r'
                % got['target'])
        h.check('&lt;img/src=x/onerror=window.pwned=1&gt;&amp;amp;' in got['html'],
                'the markup is not escaped text in the rows: %s' % got['html'][:2000])

        page.click('button[data-action="drain"][data-target-id="%d"]' % t['id'])
        h.check(h.wait_until(lambda: api.target(t['id'])['state'] == 'draining', 10),
                'Drain did not reach harmonyd')
        page.wait('document.getElementById("notice").textContent === %s'
                  % json.dumps(shown + ' is draining.'), 10, 'the notice of the drain')
        h.check(page.eval('document.querySelectorAll("img, table svg, #notice *").length')
                == 0, 'the markup made elements')
        h.check(page.eval('window.pwned === undefined'), 'the markup ran in the page')
    hd.stop()


h.run(main)
