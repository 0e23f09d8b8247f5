"""Issue 15: the state file of several services. Two services from a
config file, a target registered in each (POST /api/v1/services/{name}/
targets) and a persistence entry in each: the file keeps the default's at
the top level (named by "service") and the other's under "services"; after
a restart each target is back in its own service, with its id and key
(its key still works), and each table has its own entry. The default
changed in the config: each still goes back to its service. A service
added by SIGHUP is saved without any target change; a service removed from
the config: its section is dropped (said in the log), the rest loads."""

import json
import os
import signal

import harness as h
import adminhttp as ah


def write_config(path, default, names):
    doc = {'services': {n: {'listen': '127.0.0.1:0', 'persistent': True}
                        for n in names},
           'default': default}
    with open(path, 'w') as f:
        json.dump(doc, f)


def start(cfg, sf):
    hd = h.Harmonyd('--ack-port', '127.0.0.1:0', '--http', '127.0.0.1:0',
                    '-c', cfg, '--state-file', sf, base=False)
    h.check(hd.http_port is not None, 'no admin port:\n' + hd.log_text())
    return hd


def service_port(hd, name):
    m = hd.wait_log(r'listening: service %s (\S+)' % name, 1)
    if m is not None:
        return int(m.group(1).rpartition(':')[2])
    return hd.port          # the default's first listener: "clients"


def svc_targets(api, name):
    return api.expect(200, 'GET', '/api/v1/services/%s/targets' % name).json()['targets']


def svc_entries(api, name):
    p = api.expect(200, 'GET', '/api/v1/services/%s/persistence' % name).json()
    return sorted(e['client'] for e in p['entries'])


def main():
    bw = h.Backend('name', name='W')
    ba = h.Backend('name', name='A')
    d = h.tmpdir()
    cfg, sf = os.path.join(d, 'harmonyd.json'), os.path.join(d, 'state.json')
    write_config(cfg, 'web', ['web', 'api'])

    hd = start(cfg, sf)
    api = ah.Api(hd.http_port)
    tw = api.expect(201, 'POST', '/api/v1/services/web/targets',
                    {'port': bw.port, 'weight': 300}).json()
    ta = api.expect(201, 'POST', '/api/v1/services/api/targets',
                    {'port': ba.port, 'weight': 700}).json()
    for name, src, want in (('web', '127.0.3.1', 'W'), ('api', '127.0.3.2', 'A')):
        with h.connect(service_port(hd, name), source=src) as s:
            got = h.recv_line(s)
        h.check(got.strip() == want.encode(), 'service %s answered %r, not %r'
                % (name, got, want))
    hd.stop()

    with open(sf) as f:
        saved = json.load(f)
    h.check(saved.get('service') == 'web' and [t['port'] for t in saved['targets']]
            == [bw.port], 'the default at the top level: %r' % saved)
    other = saved.get('services', {})
    h.check(list(other) == ['api'] and [t['port'] for t in other['api']['targets']]
            == [ba.port] and len(other['api']['persistence']) == 1,
            'the other service under "services": %r' % saved)

    def back(hd, how):
        api = ah.Api(hd.http_port)
        web, apis = svc_targets(api, 'web'), svc_targets(api, 'api')
        h.check([(t['id'], t['port'], t['weight']) for t in web] ==
                [(tw['id'], bw.port, 300)], '%s: web has its target: %r' % (how, web))
        h.check([(t['id'], t['port'], t['weight']) for t in apis] ==
                [(ta['id'], ba.port, 700)], '%s: api has its target: %r' % (how, apis))
        for t in (tw, ta):
            api.expect(204, 'POST', '/api/v1/targets/%d/ack' % t['id'], token=t['key'])
        h.check(svc_entries(api, 'web') == ['127.0.3.1'] and
                svc_entries(api, 'api') == ['127.0.3.2'],
                '%s: each table has its entry' % how)
        return api

    hd = start(cfg, sf)
    back(hd, 'after a restart')
    hd.stop()

    # The default is api now: each section still goes to its own service.
    write_config(cfg, 'api', ['web', 'api'])
    hd = start(cfg, sf)
    back(hd, 'with the default changed')

    # A service added by SIGHUP: saved though no target changed.
    write_config(cfg, 'api', ['web', 'api', 'extra'])
    os.kill(hd.pid, signal.SIGHUP)
    h.check(hd.wait_log(r'SIGHUP: configuration reloaded', 10) is not None,
            'the reload is logged:\n' + hd.log_text())

    def has_extra():
        try:
            with open(sf) as f:
                return 'extra' in json.load(f).get('services', {})
        except (OSError, ValueError):
            return False
    h.check(h.wait_until(has_extra, 10), 'the added service is saved')
    hd.stop()

    # api removed: its target and entry are dropped, said once; web loads.
    write_config(cfg, 'web', ['web', 'extra'])
    hd = start(cfg, sf)
    api = ah.Api(hd.http_port)
    h.check(hd.wait_log(r'state: service api is no longer configured: dropped'
                        r' its 1 target and 1 persistence entry', 5) is not None,
            'the dropped service is said:\n' + hd.log_text())
    h.check([t['id'] for t in svc_targets(api, 'web')] == [tw['id']],
            'web keeps its target')
    h.check(svc_targets(api, 'extra') == [], 'nothing else restored')
    hd.stop()


h.run(main)
