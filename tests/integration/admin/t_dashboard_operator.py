#!/usr/bin/env python3
"""The dashboard's operator view (issue 16) in real headless Chromium, live
over SSE, against a real harmonyd: what it has today works, and what it
does not have leaves no trace.

Pinned: the favicon (web/favicon.svg, linked from index.html) is served as
image/svg+xml; a refused write says whether the token is missing or wrong
(harmonyd's 401 tells them apart) and offers to enter it, which puts the
cursor in the token field; once the right one is entered the write goes
through; each target's sessions per second follow its traffic; a target's
row opens on its details (source, connect failures); a harmonyd whose
targets have no "check" and no "state_since_ms_ago" has no Check and no
For column, and one without GET /api/v1/events/history (404) has no
timeline (one with it: its events are in the timeline); at 420 x 800 no
row's actions are out of view and nothing overflows.

Skips (77) without Chromium (Debian: apt-get install chromium).
"""

import contextlib
import time

import harness as h
from adminhttp import Api, harmonyd, web_root
from chromium import browser, find_chromium

TOKEN = 'op-view-2b7e'


def clients(port, until):
    """Clients from 6 addresses, one every 50 ms, until time.monotonic() is until."""
    n = 0
    while time.monotonic() < until:
        with contextlib.suppress(OSError):
            h.name_of(port, source='127.0.0.%d' % (20 + n % 6), timeout=5)
        n += 1
        time.sleep(0.05)
    return n


def notice(page):
    return page.eval('(() => { const n = document.getElementById("notice");'
                     ' return n.hidden ? null : [n.dataset.kind, n.textContent]; })()')


def weight_refused(page, api, tid, said):
    page.type_into('#weight-%d' % tid, '321')
    page.wait('(() => { const n = document.getElementById("notice");'
              ' return !n.hidden && n.dataset.kind === "error" &&'
              ' n.textContent.includes(%r); })()' % said, 10,
              'the notice %r (it says %r)' % (said, notice(page)))
    h.check(api.target(tid)['weight'] != 321, 'a refused write went through')
    page.click('#notice-action')
    page.wait('document.activeElement === document.getElementById("token-input")', 5,
              'the cursor in the token field')


def main():
    chrome = find_chromium()
    hd = harmonyd('--token', TOKEN, '--web-root', web_root())
    api = Api(hd.http_port, token=TOKEN)
    ts = [api.register(h.Backend('name', name=n).port) for n in 'ABC']
    clients(hd.port, time.monotonic() + 0.5)       # some in the persistence table
    base = 'http://127.0.0.1:%d/' % hd.http_port

    r = api.expect(200, 'GET', '/favicon.svg')
    h.check(r.header('Content-Type') == 'image/svg+xml' and r.text.lstrip().startswith('<svg'),
            'favicon.svg served as %r: %r' % (r.header('Content-Type'), r.text[:60]))
    h.check('rel="icon" href="favicon.svg"' in api.expect(200, 'GET', '/').text,
            'index.html links no favicon.svg')
    has_events = api.get('/api/v1/events/history').status == 200
    t0 = api.targets()[0]
    has_check, has_since = t0.get('check') is not None, 'state_since_ms_ago' in t0

    with browser(chrome) as page:
        page.viewport(1280, 900)
        page.call('Page.navigate', url=base)
        page.wait('document.getElementById("conn-status").dataset.mode === "live" && '
                  'document.querySelectorAll("#targets-body tr").length === 3', 30,
                  'the live page with 3 targets')
        h.check(page.eval('fetch(document.querySelector(\'link[rel="icon"]\').href)'
                          '.then(r => r.ok && r.headers.get("Content-Type"))') == 'image/svg+xml',
                'the page\'s icon link does not load')

        # Today's harmonyd: no column, no panel that would say nothing.
        time.sleep(2)       # the history read, had there been one
        h.check(page.visible('#targets th.col-check') == has_check,
                'the Check column shown: %s, the targets have a check: %s'
                % (not has_check, has_check))
        h.check(page.visible('#targets th.col-since') == has_since, 'the For column')
        if has_events:
            page.wait('document.querySelectorAll("#events-body tr").length >= 3', 10,
                      'the registrations in the timeline')
        else:
            h.check(not page.visible('#events-panel'),
                    'a timeline on a harmonyd without events')

        # Sessions per second, per target.
        busy = h.Task(clients, hd.port, time.monotonic() + 8)
        page.wait('Array.from(document.querySelectorAll(\'#targets-body [data-field="rate"]\'))'
                  '.some(c => parseFloat(c.textContent) > 1)', 20, 'a target\'s rate')
        h.check(busy.join(20) > 20, 'too few clients')

        # Opened: its details.
        page.click('button[data-action="expand"][data-target-id="%d"]' % ts[0]['id'])
        sel = 'tr[data-detail-of="%d"]' % ts[0]['id']
        page.wait('!!document.querySelector(%r)' % sel, 10, 'the details row')
        text = page.eval('document.querySelector(%r).textContent' % sel)
        h.check('Source' in text and 'Connect failures' in text, 'the details: %r' % text)
        # Connect time (issue 16): the API's, once the target took a session.
        t0 = api.target(ts[0]['id'])
        if t0.get('connect_ms') is not None:
            page.wait('document.querySelector(%r).textContent.includes("Connect time")'
                      % sel, 10, 'the connect time in the details')
        if not has_events:
            time.sleep(1)
            h.check(not page.eval('!!document.querySelector(%r)' % (sel + ' .history')),
                    'a history section without events')
        page.click('button[data-action="expand"][data-target-id="%d"]' % ts[0]['id'])
        page.wait('!document.querySelector(%r)' % sel, 10, 'the details closed')

        # The token: none, then a wrong one, then the right one.
        tid = ts[1]['id']
        status = 'document.getElementById("token-status").'
        for typed, said in ((None, 'needs the admin token'),
                            ('not-' + TOKEN, 'The admin token is wrong'), (TOKEN, None)):
            if typed is not None:
                page.type_into('#token-input', typed)
                page.wait(status + 'dataset.set === "yes"', 10, 'the token %r taken' % typed)
            if said is None:
                page.type_into('#weight-%d' % tid, '321')
                h.check(h.wait_until(lambda: api.target(tid)['weight'] == 321, 10),
                        'the write with the right token did not go through')
                continue
            weight_refused(page, api, tid, said)
            h.check(page.eval('[%sdataset.set, %stextContent]' % (status, status)) ==
                    (['wrong', 'token wrong'] if typed else ['no', 'no token']),
                    'the token status %r' % page.eval(status + 'textContent'))

        # 420 px wide: the targets' and the clients' actions in view.
        page.viewport(420, 800, mobile=True)
        page.wait('document.documentElement.scrollWidth <= 420', 10, 'the page within 420 px')
        out, width = page.out_of_view(420)
        h.check(not out and width <= 420, 'at 420 px: actions out of view %r, page %d px wide'
                % (out, width))
        h.check(page.eval('document.querySelectorAll(\'#targets-body button[data-action="remove"],'
                          ' #persistence-body button[data-action="forget"]\').length') >= 7,
                'the rows\' buttons are there')
    hd.stop()


h.run(main)
