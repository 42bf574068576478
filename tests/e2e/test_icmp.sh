#!/usr/bin/env bash
# End to end: ICMP errors of tracked NAT and DR connections (LVS ip_vs_in_icmp / ip_vs_out_icmp).
# Real kernels send the errors and real sockets must see them, which they only do when the quoted
# datagram matches their own: so vsd must have translated the error, outer and inner.
#   - A NAT server with nothing on the port answers port-unreachable; the client's connected UDP
#     socket gets ECONNREFUSED (the error now says VIP:5353, not rs1:5353).
#   - A NAT server answers a client whose socket has closed; the client's port-unreachable (about
#     VIP:5354) reaches the server as one about rs2:6354, and its connected socket gets ECONNREFUSED.
#   - The same for DR: the client's error about the VIP's reply is passed on to the server.
source "$(dirname "$0")/lib.sh"

e2e_setup 4
add_backend rs1 198.19.0.11 8080 nat
add_backend rs2 198.19.0.12 8080 nat
add_backend dr1 198.19.0.21 80 dr 198.18.0.101
sed "s/@PREFIX@/vsd-e2e-$$/" "$E2E_DIR/icmp.yaml" >"$E2E_TMP/vsd.yaml"
start_vsd "$E2E_TMP/vsd.yaml" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }

# 1. From the server's side, NAT.
got=$(inns cl "$PY" - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.10", 0))
s.connect(("198.18.0.100", 5353))
s.settimeout(3)
s.send(b"query")
try:
    s.recv(2048)
    print("data")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
PY
)
check "NAT: the server's port-unreachable reaches the client translated (ECONNREFUSED, got $got)" \
    test "$got" = refused

# late_server NS BIND PORT OUT: a UDP server that answers its first datagram 0.5 s late, on a socket
# connected to the client, and writes what the client's side said back: data, refused or timeout.
late_server() {
    ip netns exec "$(ns "$1")" "$PY" - "$2" "$3" "$4" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(20)
data, peer = s.recvfrom(2048)
s.connect(peer)
time.sleep(0.5)
s.send(b"late reply")
s.settimeout(3)
try:
    s.recv(2048)
    r = "data"
except ConnectionRefusedError:
    r = "refused"
except socket.timeout:
    r = "timeout"
open(sys.argv[3], "w").write(r)
PY
    E2E_PIDS+=($!)
}
# send_and_close SRC VIP PORT: one datagram from a socket that is closed right after.
send_and_close() {
    inns cl "$PY" -c "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
s.bind(('$1', 0)); s.sendto(b'hello', ('$2', $3)); s.close()"
}
wait_file() { for _ in $(seq 50); do [ -s "$1" ] && break; sleep 0.1; done; cat "$1" 2>/dev/null; }

# 2. From the client's side, NAT and DR.
late_server rs2 0.0.0.0 6354 "$E2E_TMP/nat-late"
late_server dr1 198.18.0.101 5355 "$E2E_TMP/dr-late"
sleep 0.5
send_and_close 198.18.0.11 198.18.0.100 5354
send_and_close 198.18.0.12 198.18.0.101 5355
got=$(wait_file "$E2E_TMP/nat-late")
check "NAT: the client's port-unreachable reaches the server translated (ECONNREFUSED, got $got)" \
    test "$got" = refused
got=$(wait_file "$E2E_TMP/dr-late")
check "DR: the client's port-unreachable about the VIP's reply reaches the server (got $got)" \
    test "$got" = refused

stats=$(vsd_stats)
echo "$stats" | grep -E '^worker'
check "vsd counted the three errors it forwarded" grep -qE 'icmp errors sent 0 forwarded 3,' <<<"$stats"

e2e_summary
