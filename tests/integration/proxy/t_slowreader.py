"""t_slowreader: a target streams 64 MiB to a client that first reads nothing
for 2 s and then reads slowly; the daemon applies backpressure instead of
buffering: its RSS grows by less than 8 MiB over its size after a warm-up
session. The data still arrives intact.

Under AddressSanitizer freed memory sits in a quarantine (256 MiB by default)
and would count as growth if the daemon frees and reallocates its relay
buffers, so the daemon runs with a small quarantine here: what is measured
is the daemon's own buffering."""

import os
import threading
import time

import harness as h

MIB = 1024 * 1024
N = 64 * MIB
LIMIT_KB = 8 * 1024


def main():
    stream = h.Backend('stream', nbytes=N, seed=8)
    env = dict(os.environ)
    env['ASAN_OPTIONS'] = (env.get('ASAN_OPTIONS', '') +
                           ':quarantine_size_mb=1:thread_local_quarantine_size_kb=64').lstrip(':')
    hd = h.Harmonyd('--target', stream.target(), env=env)
    expected_crc = h.pattern_crc(N, seed=8)

    # Warm-up: one full session read at full speed.
    with h.connect(hd.port, timeout=120) as s:
        got, crc = h.recv_counted(s, N, timeout=120)
    h.check((got, crc) == (N, expected_crc), 'warm-up: got %d bytes (crc %08x)' % (got, crc))
    h.check(h.wait_until(lambda: stream.cur == 0, 15), 'warm-up session did not end')
    time.sleep(0.5)
    base = hd.rss_kb()

    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], hd.rss_kb())
            except (OSError, h.Failure):
                return
            time.sleep(0.01)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with h.connect(hd.port, timeout=60) as s:
            time.sleep(2)               # the target writes, nobody reads
            h.log('after 2 s without reading: RSS %d kB (base %d kB)' % (hd.rss_kb(), base))
            s.settimeout(60)
            buf = bytearray(64 * 1024)
            got, crc = 0, 0
            t0 = time.monotonic()
            deadline = t0 + 90
            while time.monotonic() < deadline:
                k = s.recv_into(buf)
                if k == 0:
                    break
                crc = h.crc32(memoryview(buf)[:k], crc)
                got += k
                # About 32 MiB/s at most: slower than the loopback.
                ahead = got / (32 * MIB) - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            else:
                h.fail('slow read did not finish in 90 s (%d of %d bytes)' % (got, N))
    finally:
        stop.set()
        sampler.join(5)
    h.check((got, crc) == (N, expected_crc),
            'slow reader got %d bytes (crc %08x), expected %d (crc %08x)'
            % (got, crc, N, expected_crc))
    growth = peak[0] - base
    h.log('RSS base %d kB, peak %d kB, growth %d kB' % (base, peak[0], growth))
    h.check(growth < LIMIT_KB, 'the daemon\'s RSS grew by %d kB (from %d to %d kB) while a '
            'client read 64 MiB slowly; the limit is %d kB: no backpressure?'
            % (growth, base, peak[0], LIMIT_KB))
    hd.stop()
    stream.stop()


h.run(main)
