"""t_bulk: 64 MiB each way through the proxy at the same time arrive intact:
an echo session (both directions at once), plus a stream session (target to
client) and a sink session (client to target) running alongside it."""

import socket

import harness as h

MIB = 1024 * 1024
N = 64 * MIB


def echo_session(port):
    with h.connect(port, timeout=120) as s:
        def send():
            crc = h.send_pattern(s, N, seed=1, timeout=120)
            s.shutdown(socket.SHUT_WR)
            return crc
        sender = h.Task(send)
        got, crc = h.recv_counted(s, N, timeout=120)
        sent = sender.join(180)
    h.check(got == N, 'echo: sent %d bytes, got %d back' % (N, got))
    h.check(crc == sent, 'echo: the bytes came back corrupted (crc %08x, sent %08x)'
            % (crc, sent))
    return sent


def stream_session(port):
    with h.connect(port, timeout=120) as s:
        got, crc = h.recv_counted(s, N, timeout=120)
    h.check(got == N, 'stream: expected %d bytes, got %d' % (N, got))
    h.check(crc == h.pattern_crc(N, seed=2), 'stream: the bytes arrived corrupted')


def sink_session(port):
    with h.connect(port, timeout=120) as s:
        crc = h.send_pattern(s, N, seed=3, timeout=120)
        s.shutdown(socket.SHUT_WR)
        answer = h.recv_line(s, 120)
    h.check(answer == b'%d %08x\n' % (N, crc),
            'sink: the target got %r, expected %d bytes with crc %08x' % (answer, N, crc))


def main():
    echo = h.Backend('echo')
    stream = h.Backend('stream', nbytes=N, seed=2)
    sink = h.Backend('sink')
    hds = [h.Harmonyd('--target', be.target(), access_log=True, label='harmonyd (%s)' % be.mode)
           for be in (echo, stream, sink)]

    tasks = [h.Task(fn, hd.port) for fn, hd in
             zip((echo_session, stream_session, sink_session), hds)]
    sent = tasks[0].join(240)
    for t in tasks[1:]:
        t.join(240)

    h.check(h.wait_until(lambda: (N, sent) in echo.done, 10),
            'echo backend did not read the whole 64 MiB intact: %r' % echo.done)
    # The access log counts the bytes of each direction.
    answer_len = len(b'%d %08x\n' % (N, 0))
    for hd, up, down in ((hds[0], N, N), (hds[1], 0, N), (hds[2], N, answer_len)):
        lines = hd.wait_access(1)
        h.check(len(lines) == 1, '%s: expected 1 access-log line, got %r' % (hd.label, lines))
        e = lines[0]
        h.check((e.get('up'), e.get('down'), e.get('end')) == (str(up), str(down), 'done'),
                '%s: access log says up=%s down=%s end=%s, expected up=%d down=%d end=done'
                % (hd.label, e.get('up'), e.get('down'), e.get('end'), up, down))
    for p in hds + [echo, stream, sink]:
        p.stop()


h.run(main)
