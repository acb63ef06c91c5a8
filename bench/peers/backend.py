#!/usr/bin/env python3
"""Plain TCP backends for the peer comparison, on 127.0.0.1.

answer port: accepts, writes "ok\\n" and closes; stands behind the handshake test,
             so that the proxies' backend leg costs as little as it can.
stream port: reads an HTTP request header, answers "HTTP/1.0 200" with a
             Content-Length of N bytes of zeros, and closes; curl downloads it.

Usage: backend.py PORTFILE N_BYTES
Binds two ephemeral ports and writes "ANSWER_PORT STREAM_PORT" to PORTFILE once
both listen, so the caller never races the bind.
"""
import os
import socket
import sys
import threading

CHUNK = memoryview(bytes(1 << 20))


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
            conn.sendall(b"ok\n")
        except OSError:
            pass
        conn.close()


def stream_one(conn, total):
    try:
        request = b""
        while b"\r\n\r\n" not in request:
            data = conn.recv(4096)
            if not data:
                return
            request += data
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


def main():
    portfile, total = sys.argv[1], int(sys.argv[2])
    a, s = listener(), listener()
    threading.Thread(target=answer, args=(a,), daemon=True).start()
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (a.getsockname()[1], s.getsockname()[1]))
    os.rename(tmp, portfile)
    stream(s, total)


if __name__ == "__main__":
    main()
