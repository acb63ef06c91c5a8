#!/usr/bin/env python3
"""Plain TCP backends for the peer comparison, on 127.0.0.1 (pinned with the load).

answer port: reads the request, writes a short HTTP/1.0 answer ("ok") and closes;
             stands behind the handshake tests (s_time -www /), so that the
             proxies' backend leg costs as little as it can.
stream port: reads an HTTP request header, answers "HTTP/1.0 200" with N bytes of
             zeros, N taken from the path ("GET /67108864") or the default, and
             closes; curl downloads it.
idle port:   accepts and holds every connection, reading and dropping whatever
             arrives, until the peer closes; stands behind the idle-memory test.

(The keep-alive test uses nginx as a plain HTTP backend; see run.sh.)

Usage: backend.py PORTFILE DEFAULT_BYTES
Binds three ephemeral ports and writes "ANSWER STREAM IDLE" to PORTFILE once all
listen, so the caller never races the bind.
"""
import os
import selectors
import socket
import sys
import threading

CHUNK = memoryview(bytes(1 << 20))
ANSWER = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    return s


def answer(srv):
    while True:
        conn, _ = srv.accept()
        try:
            conn.settimeout(5)
            conn.recv(4096)
            conn.sendall(ANSWER)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        conn.close()


def stream_one(conn, default_total):
    try:
        request = b""
        while b"\r\n\r\n" not in request:
            data = conn.recv(4096)
            if not data:
                return
            request += data
        path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b"/"
        total = int(path[1:]) if path[1:].isdigit() else default_total
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % total)
        left = total
        while left > 0:
            n = min(left, len(CHUNK))
            conn.sendall(CHUNK[:n])
            left -= n
        conn.shutdown(socket.SHUT_WR)
        # Drain until the client closes, so that our close never resets the stream.
        while conn.recv(65536):
            pass
    except OSError:
        pass
    finally:
        conn.close()


def stream(srv, total):
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=stream_one, args=(conn, total), daemon=True).start()


def idle(srv):
    sel = selectors.DefaultSelector()
    srv.setblocking(False)
    sel.register(srv, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.fileobj is srv:
                try:
                    while True:
                        conn, _ = srv.accept()
                        conn.setblocking(False)
                        sel.register(conn, selectors.EVENT_READ, conn)
                except (BlockingIOError, InterruptedError):
                    pass
            else:
                conn = key.data
                try:
                    data = conn.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(conn)
                    conn.close()


def main():
    portfile, total = sys.argv[1], int(sys.argv[2])
    a, s, i = listener(), listener(), listener()
    threading.Thread(target=answer, args=(a,), daemon=True).start()
    threading.Thread(target=idle, args=(i,), daemon=True).start()
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d %d\n" % (a.getsockname()[1], s.getsockname()[1], i.getsockname()[1]))
    os.rename(tmp, portfile)
    stream(s, total)


if __name__ == "__main__":
    main()
