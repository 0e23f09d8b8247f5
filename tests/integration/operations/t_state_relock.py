"""Issue 13 item 12: a handover that the new harmonyd does not complete
(it fails to start after the old one handed the state file over) does not
leave the old one running without saving: once the lock is free again and
longer than a --takeover waits for it (30 s), the old one takes it back and
saves its registry again."""

import json
import os

import harness as h
import adminhttp as ah


def saved_ports(path):
    try:
        with open(path) as f:
            return sorted(t['port'] for t in json.load(f)['targets'])
    except (OSError, ValueError):
        return None


def main():
    sf = os.path.join(h.tmpdir(), 'state.json')
    old = ah.harmonyd('--state-file', sf)
    api = ah.Api(old.http_port)
    api.register(1001)
    # 192.0.2.1 (TEST-NET-1) is no address of this host: its listen fails.
    rc, _, err = h.run_harmonyd('--listen', '127.0.0.1:0', '--ack-port', '0',
                                '--http', '192.0.2.1:0', '--state-file', sf,
                                '--takeover', str(old.pid), timeout=60)
    h.check(rc == 1 and '192.0.2.1' in err,
            'the new one took the lock, then failed to start (%d): %s' % (rc, err))
    h.check(old.wait_log(r'handed .* over', 5), 'the old one handed over')
    api.register(1002)
    h.check(old.wait_log(r'free again', 60), 'the old one takes the file back')
    h.check(h.wait_until(lambda: saved_ports(sf) == [1001, 1002], 10),
            'and saves its registry again: %r' % saved_ports(sf))
    old.stop()
    h.check(saved_ports(sf) == [1001, 1002], 'its final save too')


h.run(main)
