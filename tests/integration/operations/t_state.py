"""Issue 9: --state-file. A restart keeps targets (ack and HTTP, with their
keys and weights), persistence entries and runtime settings (PATCH
/api/v1/config); the old ack-port key is answered ACK, not BID, and the
HTTP key still works. A corrupt state file is kept aside as FILE.bad and
start-up succeeds."""

import json
import os

import harness as h
import adminhttp as ah
from ackclient import RefClient


def start(sf, ack_port=0):
    return ah.harmonyd('--ack-port', '127.0.0.1:%d' % ack_port, '--state-file', sf)


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    sf = os.path.join(h.tmpdir(), 'state.json')

    hd = start(sf)
    api = ah.Api(hd.http_port)
    c = RefClient(hd.ack_port, a.port, 700)
    c.register()
    reg = api.register(b.port, weight=300, ttl='90s')
    api.expect(200, 'PATCH', '/api/v1/config', {'requeue': 3, 'balance': 'roundrobin'})
    clients = ['127.0.3.%d' % i for i in range(1, 11)]
    first = {}
    for src in clients:
        with h.connect(hd.port, source=src) as s:
            first[src] = h.recv_line(s)
    ack_port = hd.ack_port
    hd.stop()

    with open(sf) as f:
        saved = json.load(f)
    h.check(len(saved['targets']) == 2 and len(saved['persistence']) == 10,
            'state file holds 2 targets and 10 entries: %r' % saved)

    hd = start(sf, ack_port)
    api = ah.Api(hd.http_port)
    ts = {t['port']: t for t in api.targets()}
    h.check(ts.get(a.port, {}).get('weight') == 700 and ts[a.port]['source'] == 'ack',
            'the ack target and its weight survive: %r' % ts)
    h.check(ts.get(b.port, {}).get('weight') == 300 and ts[b.port]['source'] == 'http'
            and ts[b.port]['timeout_ms'] == 90000,
            'the HTTP target, weight and ttl survive: %r' % ts)
    h.check(c.heartbeat() == [('ACK', c.key), ('ID', c.key)],
            'the old ack-port key is answered ACK')
    api.expect(204, 'POST', '/api/v1/targets/%d/ack' % reg['id'], token=reg['key'])
    entries = api.persistence()
    h.check(len(entries.get('entries', entries) if isinstance(entries, dict) else entries) == 10,
            'the persistence entries survive: %r' % entries)
    for src in clients:
        with h.connect(hd.port, source=src) as s:
            got = h.recv_line(s)
        h.check(got == first[src], '%s keeps its target across the restart' % src)
    st = api.status()
    h.check(st.get('requeue') == 3 and st.get('algorithm', st.get('balance')) == 'roundrobin',
            'runtime settings survive the restart: %r' % st)
    hd.stop()

    # Corrupt files: start-up succeeds, the file is kept aside.
    for name, data in (('truncated', open(sf, 'rb').read()[:40]),
                       ('random', os.urandom(300)),
                       ('types', b'{"harmony_state": 1, "targets": [{"id": "7"}],'
                                 b' "persistence": []}')):
        with open(sf, 'wb') as f:
            f.write(data)
        hd = start(sf)
        h.check(os.path.exists(sf + '.bad'), '%s state file kept as .bad' % name)
        h.check(ah.Api(hd.http_port).targets() == [], '%s: nothing restored' % name)
        hd.stop()
        os.unlink(sf + '.bad')
        if os.path.exists(sf):
            os.unlink(sf)


h.run(main)
