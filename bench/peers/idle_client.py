#!/usr/bin/env python3
"""Opens N TLS connections to 127.0.0.1:PORT, completes each handshake, and keeps
them all open and idle; prints "ready N" (N = handshakes completed, resumed ones
counted apart) on stdout once done, then waits until stdin closes or it is killed.

Usage: idle_client.py PORT N SERVER_NAME [VERSION [CIPHER]]
VERSION is 1.3 (the default) or 1.2, with CIPHER (an OpenSSL TLS 1.2 cipher name) if
given. Every connection is a fresh handshake (no session reuse). The certificate is not
verified: the other tests already verify it, and this one measures memory.
"""
import socket
import ssl
import sys


def main():
    port, n, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    version = sys.argv[4] if len(sys.argv) > 4 else "1.3"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if len(sys.argv) > 5:
            ctx.set_ciphers(sys.argv[5])
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    held, resumed = [], 0
    for _ in range(n):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname=name)
        resumed += tls.session_reused
        held.append(tls)
    print("ready %d resumed %d" % (len(held), resumed), flush=True)
    sys.stdin.read()
    for t in held:
        t.close()


if __name__ == "__main__":
    main()
