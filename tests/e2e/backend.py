#!/usr/bin/env python3
"""A real HTTP backend for the end-to-end tests: answers every GET with its own name, and every PUT
with its name and the SHA-256 of the body it received (uploads through vsd's tunnels).

Usage: backend.py NAME ADDR PORT
ADDR is an IPv4 address, or an IPv6 one (`::`): then the server listens on IPv6 only (IPV6_V6ONLY), so
that an IPv4 server may share its port. It also reports the client address it saw in an X-Client header, so tests can check that NAT keeps the
client's source address (LVS NAT is not a proxy).
"""
import hashlib
import http.server
import socket
import socketserver
import sys

NAME, ADDR, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        body = (NAME + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Client", self.client_address[0])
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        left = int(self.headers.get("Content-Length", "0"))
        digest = hashlib.sha256()
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
        body = f"{NAME} {digest.hexdigest()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Server6(Server):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


(Server6 if ":" in ADDR else Server)((ADDR, PORT), Handler).serve_forever()
