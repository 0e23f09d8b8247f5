"""t_notarget: with no target at all, a client gets the unavailable text
(--unavailable with \\r\\n escapes, or --unavailable-file) and then EOF;
without any text it just gets EOF."""

import harness as h

HTTP_503 = (b'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n'
            b'Content-Length: 12\r\nConnection: close\r\n\r\nunavailable\n')


def main():
    hd = h.Harmonyd('--unavailable', 'SORRY\\r\\n', access_log=True,
                    label='harmonyd (--unavailable)')
    tasks = [h.Task(h.expect_unavailable, hd.port, b'SORRY\r\n') for _ in range(5)]
    for t in tasks:
        t.join()
    lines = hd.wait_access(5)
    h.check(len(lines) == 5 and all(e.get('end') == 'unavailable' and e.get('target') == '-'
                                    for e in lines),
            'expected 5 access-log lines with target=- end=unavailable, got %r' % lines)
    hd.stop()

    path = h.write_file('503.http', HTTP_503)
    hd = h.Harmonyd('--unavailable-file', path, label='harmonyd (--unavailable-file)')
    h.expect_unavailable(hd.port, HTTP_503)
    # A client that sends its request first still gets the whole answer
    # (the end may then be a reset: the daemon need not read the request).
    with h.connect(hd.port) as s:
        s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        data, how = h.recv_to_end(s)
    h.check(data == HTTP_503, 'a client that sent a request got %r then %s, expected the '
            'whole 503 response' % (data, how))
    hd.stop()

    hd = h.Harmonyd(label='harmonyd (no text)')
    h.expect_unavailable(hd.port, b'')
    hd.stop()


h.run(main)
