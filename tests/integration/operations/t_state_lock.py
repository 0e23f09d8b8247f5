"""Issue 13 items 12 and 13: one harmonyd per state file and per port.

12. A second harmonyd on the same state file refuses to start, naming the
    PID that holds it. The deliberate handover (--takeover PID) makes the
    old one save, release the file and stop saving: the new one starts from
    the old one's latest registry, and what the old one sees afterwards
    (and its exit) never overwrites the new one's file. A state file that
    cannot be read is not overwritten: harmonyd refuses to start.
13. A second harmonyd on a port another process listens on (the client,
    ack or admin port, even one bound with SO_REUSEPORT) refuses to start,
    naming the PID that holds the port."""

import json
import os
import socket

import harness as h
import adminhttp as ah


def saved_ports(path):
    with open(path) as f:
        return sorted(t['port'] for t in json.load(f)['targets'])


def base(sf):
    return ['--ack-port', '127.0.0.1:0', '--state-file', sf]


def refused(args, what, *pids):
    rc, _, err = h.run_harmonyd(*args)
    h.check(rc != 0, '%s: the second harmonyd refuses to start: %s' % (what, err))
    h.check(any('pid %d ' % pid in err or 'pid %d:' % pid in err for pid in pids),
            '%s: the refusal names pid %r: %s' % (what, pids, err))
    h.log('%s: %s' % (what, err.strip().splitlines()[-1]))


def main():
    ah.need_curl()
    sf = os.path.join(h.tmpdir(), 'state.json')
    old = ah.harmonyd(*base(sf))
    api_old = ah.Api(old.http_port)

    # 12: the same state file, by mistake.
    refused(['--listen', '127.0.0.1:0', '--ack-port', '0', '--http', '0',
             '--state-file', sf], 'state file', old.pid)

    # 13: each port, by mistake.
    zero = ['--listen', '127.0.0.1:0', '--ack-port', '0', '--http', '0']
    refused(zero + ['--listen', '127.0.0.1:%d' % old.port], 'client port', old.pid)
    refused(zero + ['--ack-port', '127.0.0.1:%d' % old.ack_port], 'ack port', old.pid)
    refused(zero + ['--http', '127.0.0.1:%d' % old.http_port], 'admin port', old.pid)
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    other.bind(('127.0.0.1', 0))
    other.listen(8)
    refused(zero + ['--listen', '127.0.0.1:%d' % other.getsockname()[1]],
            'a port shared with SO_REUSEPORT', os.getpid())
    other.close()

    # 12: the deliberate handover.
    api_old.register(1001)
    new = ah.harmonyd('--takeover', str(old.pid), *base(sf))
    h.check(new.wait_log(r'restored 1 targets', 5),
            'the new one starts from the old one\'s latest registry')
    h.check(old.wait_log(r'handed .* over', 5), 'the old one says it handed over')
    api_old.register(1002)
    api_new = ah.Api(new.http_port)
    api_new.register(1003)
    h.check(h.wait_until(lambda: saved_ports(sf) == [1001, 1003], 10),
            'the new one saves: %r' % saved_ports(sf))
    old.stop()
    h.check(saved_ports(sf) == [1001, 1003],
            'the old one\'s exit does not overwrite the new one\'s file: %r'
            % saved_ports(sf))
    new.stop()
    h.check(saved_ports(sf) == [1001, 1003], 'final save: %r' % saved_ports(sf))

    # 13: --takeover joins every port of the old one, and only its.
    x = ah.harmonyd('--ack-port', '127.0.0.1:0')
    same = ['--listen', '127.0.0.1:%d' % x.port, '--ack-port', '127.0.0.1:%d' % x.ack_port,
            '--http', '127.0.0.1:%d' % x.http_port]
    y = h.Harmonyd(*(['--takeover', str(x.pid)] + same), base=False, label='takeover')
    h.check((y.port, y.ack_port, y.http_port) == (x.port, x.ack_port, x.http_port),
            'the new one shares the old one\'s three ports')
    refused(['--takeover', str(os.getpid())] + same, 'takeover of a pid that holds no port',
            x.pid, y.pid)
    x.stop()
    y.stop()

    # 12: a state file that cannot be read is never overwritten.
    os.unlink(sf)
    os.mkdir(sf)
    rc, _, err = h.run_harmonyd(*(zero + ['--state-file', sf]))
    h.check(rc != 0 and 'cannot read' in err,
            'refuses a state file it cannot read (%d): %s' % (rc, err))
    h.check(os.path.isdir(sf) and not os.path.exists(sf + '.bad'),
            'the unreadable state file is left where it is')
    os.rmdir(sf)
    if os.geteuid() != 0:
        with open(sf, 'w') as f:
            f.write('{}')
        os.chmod(sf, 0)
        rc, _, err = h.run_harmonyd(*(zero + ['--state-file', sf]))
        h.check(rc != 0 and 'cannot read' in err,
                'refuses a state file without read permission: %s' % err)
        os.chmod(sf, 0o600)
        with open(sf) as f:
            h.check(f.read() == '{}', 'it is left as it was')


h.run(main)
