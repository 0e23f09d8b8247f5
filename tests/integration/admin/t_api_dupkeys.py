#!/usr/bin/env python3
"""A key given twice in a JSON body or the config file (json-c would keep
the last one) is refused with an error naming the key: 400 over HTTP, with
nothing registered or changed; exit 2 at start naming the file and the key;
and a SIGHUP with such a file keeps the running config and says why."""

import os
import signal

import harness as h
from adminhttp import Api, harmonyd


def main():
    hd = harmonyd()
    api = Api(hd.http_port)
    for path, method, raw in (
            ('/api/v1/targets', 'POST', b'{"port": 9, "port": 10}'),
            ('/api/v1/targets', 'POST', b'{"port": 9, "p\\u006frt": 10}'),
            ('/api/v1/config', 'PATCH', b'{"requeue": 3, "requeue": 0}')):
        r = api.call(method, path, raw=raw)
        h.check(r.status == 400, '%s %s %r: %d %s' % (method, path, raw, r.status,
                                                     r.text))
        key = 'requeue' if 'config' in path else 'port'
        h.check(r.json().get('error') == "bad JSON: duplicate key '%s'" % key,
                'the error names the key: %s' % r.text)
    h.check(api.targets() == [], 'nothing was registered: %r' % api.targets())
    h.check(api.get('/api/v1/config').json()['requeue'] == 1, 'requeue unchanged')

    # The config file: refused at start, naming the file and the key.
    conf = h.write_file('dup.json', '{\n  "requeue": 2,\n  "requeue": 3\n}\n')
    st, _, err = h.run_harmonyd('-c', conf, '--listen', '127.0.0.1:0',
                                '--ack-port', '0', '--http', '0')
    h.check(st == 2, 'a config file with a key twice: exit %d, expected 2' % st)
    h.check("%s: line 3: duplicate key 'requeue'" % conf in err,
            'the start-up error names file and key:\n' + err)

    # And on SIGHUP: the running config stays, the log says why.
    good = h.write_file('good.json', '{ "requeue": 2 }\n')
    hd2 = harmonyd('-c', good)
    api2 = Api(hd2.http_port)
    with open(good, 'w') as f:
        f.write('{ "requeue": 4, "requeue": 5 }\n')
    os.kill(hd2.pid, signal.SIGHUP)
    h.check(hd2.wait_log(r"duplicate key 'requeue'", 10) is not None,
            'the reload error names the key:\n' + hd2.log_text())
    h.check(api2.get('/api/v1/config').json()['requeue'] == 2,
            'the running requeue is kept')
    hd2.stop()
    hd.stop()


h.run(main)
