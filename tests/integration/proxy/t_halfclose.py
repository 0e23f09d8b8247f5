"""t_halfclose: EOF from one side is passed on as a half-close, and the other
direction keeps flowing until it ends too.

- client sends 1 MiB, then shutdown(SHUT_WR): it still gets the sink's
  answer (sent only after the target saw EOF), and the echo's whole 1 MiB;
- the target closes its side first (stream, then shutdown): the client sees
  EOF after the stream and can still send 256 KiB, which the target gets.
"""

import socket

import harness as h

MIB = 1024 * 1024


def main():
    sink = h.Backend('sink')
    echo = h.Backend('echo')
    stream = h.Backend('stream', nbytes=1000, seed=4)
    hd_sink = h.Harmonyd('--target', sink.target(), label='harmonyd (sink)')
    hd_echo = h.Harmonyd('--target', echo.target(), label='harmonyd (echo)')
    hd_stream = h.Harmonyd('--target', stream.target(), access_log=True,
                           label='harmonyd (stream)')

    with h.connect(hd_sink.port) as s:
        crc = h.send_pattern(s, MIB, seed=5)
        s.shutdown(socket.SHUT_WR)
        data, how = h.recv_to_end(s)
    h.check(data == b'%d %08x\n' % (MIB, crc) and how == 'eof',
            'client->target half-close: expected the sink to answer "%d %08x" then EOF, '
            'got %r then %s' % (MIB, crc, data, how))

    with h.connect(hd_echo.port) as s:
        h.send_pattern(s, MIB, seed=6)
        s.shutdown(socket.SHUT_WR)
        data, how = h.recv_to_end(s)
    h.check(len(data) == MIB and data == h.pattern(0, MIB, seed=6) and how == 'eof',
            'client->target half-close: expected the 1 MiB echoed back then EOF, '
            'got %d bytes (%s) then %s' % (len(data), 'intact' if data == h.pattern(
                0, len(data), seed=6) else 'corrupted', how))

    with h.connect(hd_stream.port) as s:
        data = h.recv_all(s)
        h.check(data == h.pattern(0, 1000, seed=4),
                'target->client half-close: expected the 1000-byte stream then EOF, '
                'got %d bytes' % len(data))
        try:
            crc = h.send_pattern(s, 256 * 1024, seed=7)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            h.fail('after the target half-closed, the client could not send any more: %s' % e)
        h.check(h.wait_until(lambda: (256 * 1024, crc) in stream.done, 15),
                'after its half-close the target should still get the client\'s 256 KiB; '
                'it read %r' % stream.done)
        data, how = h.recv_to_end(s)
        h.check(data == b'' and how == 'eof', 'expected a clean end, got %r then %s' % (data, how))
    lines = hd_stream.wait_access(1)
    h.check(len(lines) == 1 and lines[0].get('up') == str(256 * 1024)
            and lines[0].get('down') == '1000' and lines[0].get('end') == 'done',
            'access log: expected up=262144 down=1000 end=done, got %r' % lines)

    for p in (hd_sink, hd_echo, hd_stream, sink, echo, stream):
        p.stop()


h.run(main)
