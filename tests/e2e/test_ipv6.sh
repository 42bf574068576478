#!/usr/bin/env bash
# End to end, IPv6 and dual stack: real Linux clients and servers over IPv6 (2001:db8::/32) through
# vsd, beside an IPv4 service in the same vsd.
# - Neighbour Discovery and ICMPv6 echo: the client pings vsd's ext address and a VIP.
# - NAT66, wrr 3:2:1: 60 requests give 30/20/10, and the backend sees the client's own address.
# - DR over IPv6: the backends hold the VIP on lo and answer through the router; the spread is
#   wrr's, vsd never sees a reply (OutPkts 0), and vsadm lists the servers as [2001:db8:2::21]:80.
# - Port-0 persistence with netmask6 64: the clients of one /64 share one server on any port.
# - Dual stack: an IPv4 NAT service still works next to the IPv6 ones.
# - Two workers (af_packet queue pairs, redirect rings): the NAT66 spread still holds.
source "$(dirname "$0")/lib.sh"
VSADM=${VSADM:-$REPO/target/release/vsadm}

e2e_setup 20
e2e_ipv6 20
# A second client /64, which the router (vsd's IPv6 default route) and the DR backends' gateway serve.
for i in 10 11; do ip -n "$(ns cl)" addr add "2001:db8:3::$i/64" dev eth0 nodad; done
ip -n "$(ns rt)" addr add 2001:db8:3::1/64 dev eth0 nodad
for n in 1 2 3; do add_backend6 "rs$n" "198.19.0.1$n" "2001:db8:2::1$n" 8080 nat; done
for n in 1 2 3; do
    add_backend6 "dr$n" "198.19.0.2$n" "2001:db8:2::2$n" 80 dr 2001:db8:1::101 2001:db8:1::102
    add_http_port "dr$n" 8080 ::
done
SOCK=$E2E_TMP/admin.sock
vsadm() { "$VSADM" --socket "$SOCK" "$@"; }

# render WORKERS LCORES LCOREMAP [SED]: the config for that many workers, edited by SED.
render() {
    sed "s|@PREFIX@|vsd-e2e-v6w$1-$$|; s|@SOCKET@|$SOCK|; s/@WORKERS@/$1/g; s/@LCORES@/$2/; s/@LCOREMAP@/$3/; ${4:-}" \
        "$E2E_DIR/ipv6.yaml" >"$E2E_TMP/vsd$1.yaml"
    echo "$E2E_TMP/vsd$1.yaml"
}

# stop_vsd: SIGTERM, and vsd's exit status; 124 if it is still running after 10 s (then VSD_PID is
# kept, for e2e_cleanup to end it, and the test stops there).
stop_vsd() {
    local rc
    kill -TERM "$VSD_PID"
    for _ in $(seq 100); do kill -0 "$VSD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$VSD_PID" 2>/dev/null && return 124
    wait "$VSD_PID"; rc=$?
    VSD_PID=
    return "$rc"
}

# spread6 VIP N CLIENTS: N sequential requests to http://[VIP]/, from clients 2001:db8:1::10.. in
# turn (CLIENTS of them); prints "name count" lines.
spread6() {
    local vip=$1 n=$2 clients=$3 i
    for i in $(seq 0 $((n - 1))); do
        http_get6 "2001:db8:1::$((10 + i % clients))" "http://[$vip]/" || echo "error"
        echo
    done | grep -v '^$' | sort | uniq -c | awk '{print $2, $1}'
}

start_vsd "$(render 1 1 0@0,1@1)" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }

# 1. Neighbour Discovery (the client resolves vsd's address and the VIP) and ICMPv6 echo.
check "ping -6 from the client to vsd's ext address 2001:db8:1::2 is answered" \
    inns cl ping -6 -c 1 -W 2 -I 2001:db8:1::10 2001:db8:1::2
check "ping -6 from the client to the VIP 2001:db8:1::100 is answered" \
    inns cl ping -6 -c 1 -W 2 -I 2001:db8:1::11 2001:db8:1::100

# 2. NAT66.
nat=$(spread6 2001:db8:1::100 60 20)
echo "NAT66 (wrr 3:2:1) spread:"; echo "$nat" | sed 's/^/  /'
check "NAT66: 60 requests from 20 clients, wrr 3:2:1 gives 30/20/10" \
    test "$nat" = "$(printf 'rs1 30\nrs2 20\nrs3 10')"
hdr=$(inns cl curl -6 -g -s -D - -o /dev/null --max-time 5 --interface 2001:db8:1::17 "http://[2001:db8:1::100]/")
check "NAT66 keeps the client's source address (X-Client: 2001:db8:1::17)" \
    grep -q "X-Client: 2001:db8:1::17" <<<"$hdr"

# 3. DR over IPv6.
dr=$(spread6 2001:db8:1::101 60 20)
echo "DR6 (wrr 3:2:1) spread:"; echo "$dr" | sed 's/^/  /'
check "DR6: 60 requests from 20 clients, wrr 3:2:1 gives 30/20/10" \
    test "$dr" = "$(printf 'dr1 30\ndr2 20\ndr3 10')"
stats=$(vsadm -L -n --stats)
echo "$stats"
# rs SERVER COLUMN: a real server's column in `vsadm -L -n --stats` (3 Conns ... 5 OutPkts).
rs() { awk -v rs="$1" -v c="$2" '$1 == "->" && $2 == rs { print $c; exit }' <<<"$stats"; }
check "vsadm brackets IPv6 endpoints (TCP  [2001:db8:1::101]:80, -> [2001:db8:2::21]:80)" \
    bash -c "grep -q '^TCP  \[2001:db8:1::101\]:80 ' <<<'$stats' && grep -q '^  -> \[2001:db8:2::21\]:80 ' <<<'$stats'"
check "vsd counted 30/20/10 DR6 connections" \
    test "$(rs '[2001:db8:2::21]:80' 3)/$(rs '[2001:db8:2::22]:80' 3)/$(rs '[2001:db8:2::23]:80' 3)" = "30/20/10"
check "DR6 replies bypassed vsd (OutPkts 0 for all three servers)" \
    test "$(rs '[2001:db8:2::21]:80' 5)/$(rs '[2001:db8:2::22]:80' 5)/$(rs '[2001:db8:2::23]:80' 5)" = "0/0/0"
check "NAT66 replies passed through vsd (OutPkts > 0)" test "$(rs '[2001:db8:2::11]:8080' 5)" -gt 0

# 4. Port-0 persistence, netmask6 64: two clients of 2001:db8:1::/64 and two of 2001:db8:3::/64 in
# turn, 3 rounds on ports 80 and 8080. rr gives the first /64's template dr1, the second's dr2.
got=$(for r in 1 2 3; do
    for port in 80 8080; do
        for c in 2001:db8:1::10 2001:db8:1::11 2001:db8:3::10 2001:db8:3::11; do
            body=$(http_get6 "$c" "http://[2001:db8:1::102]:$port/") || body=error
            echo "${c%::*}::/64 ${body:-error}"
        done
    done
done | sort | uniq -c | awk '{ print $2, $3, $1 }')
echo "netmask6 64, backend per client /64 (subnet backend connections):"; echo "$got" | sed 's/^/  /'
check "netmask6 64, port 0: all 12 connections of 2001:db8:1::/64 on dr1, all 12 of 2001:db8:3::/64 on dr2" \
    test "$got" = "$(printf '2001:db8:1::/64 dr1 12\n2001:db8:3::/64 dr2 12')"
pc=$(vsadm -L -n --persistent-conn)
check "netmask6 64: one template per /64 (PersistConn 1/1/0 under [2001:db8:1::102]:0)" \
    test "$(awk '$1 == "TCP" { svc = $2 } svc == "[2001:db8:1::102]:0" && $1 == "->" { print $4 }' <<<"$pc" | tr '\n' /)" = "1/1/0/"

# 5. Dual stack: the IPv4 NAT service in the same vsd.
v4=$(for i in $(seq 10 15); do http_get 198.18.0.$i http://198.18.0.100/ || echo error; done | sort | uniq -c | awk '{print $2, $1}')
echo "IPv4 NAT (rr) beside IPv6:"; echo "$v4" | sed 's/^/  /'
check "dual stack: 6 IPv4 requests to 198.18.0.100 beside the IPv6 services, rr gives 2/2/2" \
    test "$v4" = "$(printf 'rs1 2\nrs2 2\nrs3 2')"
check "vsd (1 worker) stops cleanly on SIGTERM (exit 0)" stop_vsd
[ -z "$VSD_PID" ] || { e2e_summary; exit 1; }

# 6. Two workers on the 2 CPUs (as test_multicore.sh), netmask6 back to 128 so that the clients of
# 2001:db8:1::/64 are spread over both owners. Each of 10 clients makes 6 connections: whatever
# worker owns it, each worker schedules a multiple of wrr's cycle of 6, so the total is exact.
start_vsd "$(render 2 "1, 2" 0@0,1@1,2@0 's/netmask6: 64/netmask6: 128/')" ||
    { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }
nat=$(spread6 2001:db8:1::100 60 10)
echo "2 workers, NAT66 (wrr 3:2:1) spread:"; echo "$nat" | sed 's/^/  /'
check "2 workers: NAT66, 60 requests from 10 clients (6 each), wrr 3:2:1 gives 30/20/10" \
    test "$nat" = "$(printf 'rs1 30\nrs2 20\nrs3 10')"
hdr=$(inns cl curl -6 -g -s -D - -o /dev/null --max-time 5 --interface 2001:db8:1::19 "http://[2001:db8:1::100]/")
check "2 workers: NAT66 keeps the client's source address (X-Client: 2001:db8:1::19)" \
    grep -q "X-Client: 2001:db8:1::19" <<<"$hdr"
stats=$(vsd_stats)
echo "$stats" | grep -E "^worker|^port"
out=$(awk '/^worker [0-9]+: / { for (i = 1; i <= NF; i++) if ($i == "out") { gsub(",", "", $(i + 1)); s += $(i + 1) } } END { print s + 0 }' <<<"$stats")
check "2 workers: packets crossed the redirect rings ($out)" test "$out" -gt 0
check "2 workers: both workers own connections" \
    test "$(grep -E '^worker [0-9]+:' <<<"$stats" | grep -vc 'conns created 0 ')" -eq 2
check "vsd (2 workers) stops cleanly on SIGTERM (exit 0)" stop_vsd

e2e_summary
