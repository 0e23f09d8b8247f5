"""Issue 13 items 17 and 19 (a static target given twice).

17. A static target's id is its own (remembered for its host:port in the
    state file), not its position in the configuration: after the static
    targets are reordered and one is replaced, a kept one has its id, a
    registered target is restored with its id and key (no "not restored"),
    persistence still sends clients to the same backend, and no id is ever
    handed out twice (not those of removed targets either).
19. A static target given twice is an error at start-up naming it (it was
    "restored 18446744073709551615 targets")."""

import os

import harness as h
import adminhttp as ah


def start(sf, *targets):
    args = ['--state-file', sf, '--balance', 'roundrobin']
    for t in targets:
        args += ['--target', t]
    return ah.harmonyd(*args)


def ids_by_port(api):
    return {t['port']: t['id'] for t in api.targets()}


def main():
    a = h.Backend('name', name='A')
    b = h.Backend('name', name='B')
    c = h.Backend('name', name='C')
    x = h.Backend('name', name='X')
    sf = os.path.join(h.tmpdir(), 'state.json')

    hd = start(sf, a.target(), b.target())
    api = ah.Api(hd.http_port)
    reg_c = api.register(c.port)
    reg_d = api.register(4242)
    api.expect(204, 'DELETE', '/api/v1/targets/%d' % reg_d['id'])
    before = ids_by_port(api)
    h.check(set(before) == {a.port, b.port, c.port}, 'three targets: %r' % before)
    clients = ['127.0.5.%d' % i for i in range(1, 10)]
    first = {}
    for src in clients:
        with h.connect(hd.port, source=src) as s:
            first[src] = h.recv_line(s)
    h.check(b'B\n' in first.values(), 'some clients are on B: %r' % first)
    used = set(before.values()) | {reg_d['id']}
    hd.stop()

    # B first now, A replaced by X.
    hd = start(sf, b.target(), x.target())
    api = ah.Api(hd.http_port)
    after = ids_by_port(api)
    h.log('ids before %r, after %r' % (before, after))
    h.check(after.get(b.port) == before[b.port],
            'the kept static target keeps its id: %r -> %r' % (before, after))
    h.check(after.get(c.port) == reg_c['id'], 'the registered target keeps its id')
    h.check('not restored' not in hd.log_text(), 'every saved target is restored:\n'
            + hd.log_text())
    api.expect(204, 'POST', '/api/v1/targets/%d/ack' % reg_c['id'], token=reg_c['key'])
    h.check(after.get(x.port) not in used,
            'the new static target gets an id never used before: %r (used %r)'
            % (after.get(x.port), sorted(used)))
    reg_e = api.register(4243)
    h.check(reg_e['id'] not in used | set(after.values()),
            'a new registration gets an id never used before: %d (used %r)'
            % (reg_e['id'], sorted(used | set(after.values()))))
    for src in clients:
        if first[src] in (b'B\n', b'C\n'):
            with h.connect(hd.port, source=src) as s:
                got = h.recv_line(s)
            h.check(got == first[src], '%s stays on its backend: %r -> %r'
                    % (src, first[src], got))
    hd.stop()

    # 19: a static target given twice.
    rc, _, err = h.run_harmonyd('--listen', '127.0.0.1:0', '--ack-port', '0',
                                '--http', '0', '--state-file', sf,
                                '--target', b.target(), '--target', x.target(),
                                '--target', b.target(800))
    h.check(rc == 2 and b.target() in err and 'twice' in err,
            'a static target given twice is an error naming it (%d): %s' % (rc, err))


h.run(main)
