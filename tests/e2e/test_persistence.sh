#!/usr/bin/env bash
# End to end: persistence (LVS connection affinity) with real curl clients and HTTP backends.
# - Stickiness: 20 clients × 6 connections alternating ports 80 and 8080, on a port-0 DR service and
#   on a two-port NAT service: each client stays on one server, the one rr gave its first connection.
# - netmask 24: clients of two /24s, interleaved; each /24 goes to one server.
# - Timeout: each new connection re-arms a 3 s template; a template outlives its timeout while it
#   controls a connection; once expired, the client is scheduled afresh (rr's next server).
# The services use rr, so the server of each new template is known in advance (see persistence.yaml).
source "$(dirname "$0")/lib.sh"

e2e_setup 20
# A second client subnet, which the router (vsd's default route) and the DR backends' gateway serve.
for i in $(seq 10 19); do ip -n "$(ns cl)" addr add "198.18.1.$i/24" dev eth0; done
ip -n "$(ns rt)" addr add 198.18.1.1/24 dev eth0
for n in 1 2 3; do
    add_backend "rs$n" "198.19.0.1$n" 80 nat
    add_http_port "rs$n" 8080
    add_backend "dr$n" "198.19.0.2$n" 80 dr 198.18.0.101 198.18.0.103 198.18.0.104
    add_http_port "dr$n" 8080
done
sed "s/@PREFIX@/vsd-e2e-$$/" "$E2E_DIR/persistence.yaml" >"$E2E_TMP/vsd.yaml"
start_vsd "$E2E_TMP/vsd.yaml" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }

# who SRC VIP PORT: the name of the backend that answered one connection (or "error").
who() {
    local body; body=$(http_get "$1" "http://$2:$3/") && [ -n "$body" ] && echo "$body" || echo error
}

# sticky VIP PREFIX: 20 clients × 6 rounds, the clients in turn within each round, alternating ports
# 80 and 8080 (client i starts on port 80 if i is even). Prints "PREFIX:client: backends..." per
# client, with the backends it reached, deduplicated, in order of first use.
sticky() {
    local vip=$1 pfx=$2 r i port
    for r in $(seq 0 5); do
        for i in $(seq 0 19); do
            port=$(((r + i) % 2 == 0 ? 80 : 8080))
            echo "$i $(who "198.18.0.$((10 + i))" "$vip" "$port")"
        done
    done | awk -v pfx="$pfx" '
        !seen[$1, $2]++ { got[$1] = got[$1] " " $2 }
        END { for (i = 0; i < 20; i++) print pfx ":198.18.0." 10 + i ":" got[i] }'
}

# rr_expect PREFIX: what sticky must print: client i's template was rr's pick i, so backend i mod 3.
rr_expect() {
    local i
    for i in $(seq 0 19); do echo "$1:198.18.0.$((10 + i)): $1$((i % 3 + 1))"; done
}

got=$(sticky 198.18.0.101 dr)
echo "port-0 DR service, backends per client:"; echo "$got" | sed 's/^/  /'
check "port-0 DR: each of 20 clients stays on one backend for 6 connections on ports 80 and 8080" \
    test -z "$(awk 'NF != 2' <<<"$got")"
check "port-0 DR: client i is on backend i mod 3, as rr scheduled its first connection (7/7/6)" \
    test "$got" = "$(rr_expect dr)"

got=$(sticky 198.18.0.100 rs)
echo "two-port NAT service, backends per client:"; echo "$got" | sed 's/^/  /'
check "two-port NAT: each of 20 clients stays on one backend across ports 80 and 8080" \
    test -z "$(awk 'NF != 2' <<<"$got")"
check "two-port NAT: client i is on backend i mod 3, as rr scheduled its first connection" \
    test "$got" = "$(rr_expect rs)"

# netmask 24: clients of 198.18.0.0/24 and 198.18.1.0/24 in turn, 3 rounds. The first client of
# 198.18.0/24 makes rr's first pick (rs1), the first of 198.18.1/24 the second (rs2).
got=$(for r in 1 2 3; do
    for i in $(seq 10 19); do
        echo "198.18.0.$i $(who "198.18.0.$i" 198.18.0.102 80)"
        echo "198.18.1.$i $(who "198.18.1.$i" 198.18.0.102 80)"
    done
done | awk '{ split($1, a, "."); print a[1] "." a[2] "." a[3] ".0/24", $2 }' | sort | uniq -c |
    awk '{ print $2, $3, $1 }')
echo "netmask 24 service, backend per client subnet (subnet backend connections):"
echo "$got" | sed 's/^/  /'
check "netmask 24: all 30 connections of 198.18.0.0/24 on rs1, all 30 of 198.18.1.0/24 on rs2" \
    test "$got" = "$(printf '198.18.0.0/24 rs1 30\n198.18.1.0/24 rs2 30')"
hdr=$(inns cl curl -s -D - -o /dev/null --max-time 5 --interface 198.18.1.13 http://198.18.0.102/)
check "netmask 24: a client of the second subnet keeps its address through NAT (X-Client)" \
    grep -q "X-Client: 198.18.1.13" <<<"$hdr"

# Timeout. Client A (198.18.0.10) connects to "short" every 1.5 s, 5 times: each connection re-arms
# the 3 s template, so all reach rr's first pick, dr1 (without re-arming, the template would expire
# at 3 s, its connections gone, and the fourth connection would go to dr2). Meanwhile client H
# (198.18.0.11) holds a connection to "held" open: its template's timer fires at 3 s but must not
# expire it, so H's new connection at 6 s still reaches dr1.
ip netns exec "$(ns cl)" "$PY" -c '
import socket, time
s = socket.create_connection(("198.18.0.104", 8080), source_address=("198.18.0.11", 0))
time.sleep(60)' &
holder=$!
E2E_PIDS+=("$holder")
a=()
for t in 0 1 2 3 4; do
    [ "$t" -gt 0 ] && sleep 1.5
    a+=("$(who 198.18.0.10 198.18.0.103 $((t % 2 == 0 ? 80 : 8080)))")
done
held=$(kill -0 "$holder" 2>/dev/null && echo open || echo gone)
h=$(who 198.18.0.11 198.18.0.104 80)
echo "short: client A every 1.5 s -> ${a[*]}; held: client H after 6 s with a connection $held -> $h"
check "timeout 3s: connections 1.5 s apart re-arm the template (dr1 × 5 over 6 s)" \
    test "${a[*]}" = "dr1 dr1 dr1 dr1 dr1"
check "timeout 3s: a template controlling an open connection outlives its timeout (H still on dr1)" \
    test "$held $h" = "open dr1"
kill "$holder" 2>/dev/null

# A's last connection closed at once (FIN_WAIT 1 s), so its template expires 3 s after that
# connection started. Returning later, A is scheduled afresh: rr's second pick, dr2, and sticks there.
sleep 5.5
back="$(who 198.18.0.10 198.18.0.103 8080) $(who 198.18.0.10 198.18.0.103 80)"
echo "short: client A back after the template expired -> $back"
check "timeout 3s: after expiry the returning client is rescheduled (dr2) and sticks (dr2 dr2)" \
    test "$back" = "dr2 dr2"

stats=$(vsd_stats)
echo "$stats"
# col VIP RS COLUMN: a real server's column in the stats, under the service of VIP (any port).
col() {
    awk -v vip="$1" -v rs="$2" -v name="$3" '
        $2 == "RemoteAddress:Port" { for (i = 1; i <= NF; i++) if ($i == name) c = i }
        $1 == "TCP" || $1 == "UDP" { svc = $2 }
        $1 == "->" && index(svc, vip ":") == 1 && index($2, rs ":") == 1 { print $c }' <<<"$stats"
}
cols() { echo "$(col "$1" "$2"1 "$3")/$(col "$1" "$2"2 "$3")/$(col "$1" "$2"3 "$3")"; }
check "stats: port-0 DR servers hold 7/7/6 templates (PersistConn) and 42/42/36 connections" \
    test "$(cols 198.18.0.101 198.19.0.2 PersistConn) $(cols 198.18.0.101 198.19.0.2 Conns)" \
    = "7/7/6 42/42/36"
check "stats: \"held\" counted 2/0/0 connections (the held one and H's new one)" \
    test "$(cols 198.18.0.104 198.19.0.2 Conns)" = "2/0/0"
check "stats: the netmask 24 service holds one template per /24 (PersistConn 1/1/0)" \
    test "$(cols 198.18.0.102 198.19.0.1 PersistConn)" = "1/1/0"
e2e_summary
