#!/usr/bin/env bash
# End to end: tunnel forwarding (LVS-TUN) with IPIP, GUE and GRE. The real servers sit behind the
# router on a 198.20.0.0/24 segment whose links have MTU 1400; vsd reaches them only through the
# router. This kernel cannot decapsulate (no IPIP, GRE or FOU), so each server runs
# vsd-tunnel-agent (tests/tunnel-agent), which strips the outer headers into a TUN device; the
# server holds the VIPs on lo and answers the client directly, through the router.
#
# Checked: real curl GETs through each encapsulation in rr order, with the client's own address
# seen by the server; the wire format as tcpdump decodes it and as the agents counted it; replies
# that bypass vsd; fragmentation-needed from vsd for a DF datagram larger than the tunnel MTU; 1 MiB
# uploads that only complete if the router's fragmentation-needed about our tunnel packets is relayed
# to the client (PMTU discovery end to end); passive FTP through a port-0 persistent GUE service.
# Then again with two workers on af_packet queue pairs: requests and uploads through each
# encapsulation, where the router's errors must be steered to the worker of the client inside.
source "$(dirname "$0")/lib.sh"

AGENT=${AGENT_BIN:-$REPO/target/release/vsd-tunnel-agent}
VSADM=${VSADM:-$REPO/target/release/vsadm}
V_IPIP=198.18.0.120 V_GUE=198.18.0.121 V_GRE=198.18.0.122 V_UDP=198.18.0.123 V_FTP=198.18.0.124
# The same services' second VIPs, for the run with two workers.
V2_IPIP=198.18.0.130 V2_GUE=198.18.0.131 V2_GRE=198.18.0.132
LINK_MTU=1400

e2e_setup 4
# The servers' segment, behind the router, at MTU 1400 end to end.
ip -n "$(ns sw)" link add btun type bridge
ip -n "$(ns sw)" link set btun type bridge stp_state 0 forward_delay 0
ip -n "$(ns sw)" link set btun up
plug rt eth2 btun
ip -n "$(ns sw)" link set "p${#E2E_PLUGS}" mtu "$LINK_MTU"
ip -n "$(ns rt)" link set eth2 mtu "$LINK_MTU"
ip -n "$(ns rt)" addr add 198.20.0.254/24 dev eth2

head -c $((1024 * 1024)) /dev/urandom >"$E2E_TMP/data.bin"
want=$(sha256sum <"$E2E_TMP/data.bin" | cut -d' ' -f1)

# add_tunnel_server NAME ADDR: a server behind the router with the VIPs on lo, its tunnel agent,
# an HTTP backend on port 80 and vsftpd (passive, announcing the VIP the client reached).
add_tunnel_server() {
    local name=$1 addr=$2 vip root
    mkns "$name"
    plug "$name" eth0 btun
    ip -n "$(ns sw)" link set "p${#E2E_PLUGS}" mtu "$LINK_MTU"
    ip -n "$(ns "$name")" link set eth0 mtu "$LINK_MTU"
    ip -n "$(ns "$name")" addr add "$addr/24" dev eth0
    ip -n "$(ns "$name")" route add default via 198.20.0.254
    for vip in $V_IPIP $V_GUE $V_GRE $V_UDP $V_FTP $V2_IPIP $V2_GUE $V2_GRE; do ip -n "$(ns "$name")" addr add "$vip/32" dev lo; done
    # Decapsulated packets arrive on tun0 from client addresses routed via eth0: no reverse-path
    # filter (the kernel applies the larger of `all` and the interface's value).
    inns "$name" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    ip netns exec "$(ns "$name")" "$AGENT" --tun tun0 --counters "$E2E_TMP/agent-$name" &
    E2E_PIDS+=($!)
    for _ in $(seq 50); do ip -n "$(ns "$name")" link show tun0 >/dev/null 2>&1 && break; sleep 0.1; done
    ip -n "$(ns "$name")" link set tun0 up
    inns "$name" sysctl -qw net.ipv4.conf.tun0.rp_filter=0
    ip netns exec "$(ns "$name")" "$PY" "$E2E_DIR/backend.py" "$name" 0.0.0.0 80 &
    E2E_PIDS+=($!)
    root=$E2E_TMP/ftp-$name
    mkdir -p "$root"
    cp "$E2E_TMP/data.bin" "$root/"
    echo "$name" >"$root/name"
    chmod 755 "$root"
    chmod 644 "$root"/*
    add_ftp_backend "$name" "$root"
}
add_tunnel_server t1 198.20.0.21
add_tunnel_server t2 198.20.0.22

SOCK=$E2E_TMP/admin.sock
sed "s|@PREFIX@|vsd-e2e-$$|; s|@SOCKET@|$SOCK|" "$E2E_DIR/tunnel.yaml" >"$E2E_TMP/vsd.yaml"
start_vsd "$E2E_TMP/vsd.yaml" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }

# The wire between vsd and the router, and the router's side toward the client.
ip netns exec "$(ns rt)" tcpdump -i eth1 -n -U -s 256 -w "$E2E_TMP/tunnel.pcap" \
    'ip proto 4 or ip proto 47 or udp port 6080' 2>/dev/null &
TCPDUMP_TUN=$!
ip netns exec "$(ns rt)" tcpdump -i eth0 -n -U -s 96 -w "$E2E_TMP/replies.pcap" \
    "tcp and src port 80 and (src host $V_IPIP or src host $V_GUE or src host $V_GRE)" 2>/dev/null &
TCPDUMP_REPLIES=$!
E2E_PIDS+=("$TCPDUMP_TUN" "$TCPDUMP_REPLIES")
sleep 1

# 1. Real curl clients through each encapsulation: rr gives t1, t2, t1, t2 for four clients.
for vip in $V_IPIP $V_GUE $V_GRE; do
    got=$(for c in 10 11 12 13; do http_get "198.18.0.$c" "http://$vip/"; done | paste -sd ' ')
    echo "$vip: $got"
    check "GET through the tunnel to $vip reaches t1 t2 t1 t2 in rr order" test "$got" = "t1 t2 t1 t2"
done
seen=$(inns cl curl -s --max-time 5 -D - -o /dev/null --interface 198.18.0.13 "http://$V_GRE/" |
    tr -d '\r' | awk '/^X-Client:/ { print $2 }')
check "the server sees the client's own address (the inner packet is unchanged)" test "$seen" = 198.18.0.13

# 2. Fragmentation needed from vsd: a DF datagram of 1500 bytes does not fit IPIP (1480 left).
ip netns exec "$(ns cl)" tcpdump -i eth0 -n -U -c 1 -w "$E2E_TMP/fragneeded.pcap" \
    'icmp[icmptype] == icmp-unreach and icmp[icmpcode] == 4' 2>/dev/null &
TCPDUMP_ICMP=$!
E2E_PIDS+=("$TCPDUMP_ICMP")
sleep 0.5
inns cl "$PY" - "$V_UDP" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# IP_MTU_DISCOVER = IP_PMTUDISC_PROBE: DF set, and the size is not limited by a cached path MTU.
s.setsockopt(socket.IPPROTO_IP, 10, 3)
s.bind(("198.18.0.11", 0))
s.sendto(b"x" * 1472, (sys.argv[1], 9000))
time.sleep(1)
PY
for _ in $(seq 20); do kill -0 "$TCPDUMP_ICMP" 2>/dev/null || break; sleep 0.1; done
icmp=$(tcpdump -n -v -r "$E2E_TMP/fragneeded.pcap" 2>/dev/null | tr '\n' ' ')
echo "client saw: $icmp"
check "a 1500-byte DF datagram to the IPIP tunnel gets fragmentation-needed, mtu 1480, from vsd" \
    grep -qE "198\.18\.0\.2 > 198\.18\.0\.11: ICMP $V_UDP unreachable - need to frag \(mtu 1480\)" <<<"$icmp"
route=$(inns cl ip route get "$V_UDP" from 198.18.0.11)
check "the client's kernel took it: its route to $V_UDP caches mtu 1480" grep -q "mtu 1480" <<<"$route"

# Without DF, vsd fragments the outer packet as LVS lets the kernel do; t1 reassembles and
# decapsulates it, and its UDP socket on the VIP gets the whole datagram.
ip netns exec "$(ns t1)" "$PY" - "$V_UDP" "$E2E_TMP/udp-got" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9000))
s.settimeout(10)
try:
    data, peer = s.recvfrom(65535)
    r = f"{len(data)} {peer[0]}"
except socket.timeout:
    r = "timeout"
open(sys.argv[2], "w").write(r)
PY
E2E_PIDS+=($!)
sleep 0.5
inns cl "$PY" -c "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
s.setsockopt(socket.IPPROTO_IP, 10, 0); s.bind(('198.18.0.12', 0)); s.sendto(b'y' * 1472, ('$V_UDP', 9000))"
for _ in $(seq 50); do [ -s "$E2E_TMP/udp-got" ] && break; sleep 0.1; done
got=$(cat "$E2E_TMP/udp-got" 2>/dev/null)
check "a 1500-byte datagram without DF reaches t1 whole through IPIP fragments (got: $got)" \
    test "$got" = "1472 198.18.0.12"

# 3. 1 MiB uploads: the servers' link takes 1400 bytes, so the client's full-size segments only get
# through once the router's fragmentation-needed about our tunnel packets has been relayed.
for spec in "$V_IPIP:1380" "$V_GUE:1368" "$V_GRE:1376"; do
    vip=${spec%%:*} mtu=${spec#*:}
    put=$(inns cl curl -s --max-time 30 -H 'Expect:' -T "$E2E_TMP/data.bin" --interface 198.18.0.10 \
        "http://$vip/upload")
    echo "$vip upload: $put"
    check "1 MiB uploaded through the tunnel to $vip arrives intact (sha256)" test "${put#* }" = "$want"
    route=$(inns cl ip route get "$vip" from 198.18.0.10)
    check "PMTU discovery through $vip converged on mtu $mtu (1400 less the tunnel)" \
        grep -q "mtu $mtu" <<<"$route"
done

# 4. Passive FTP through the port-0 persistent GUE service: byte-identical downloads, and each
# client's control and data connections on one server.
for c in 10 11; do
    out=$E2E_TMP/ftp-$c
    inns cl curl -sS --connect-timeout 5 --max-time 20 --interface "198.18.0.$c" \
        "ftp://$V_FTP/name" -o "$out.name" "ftp://$V_FTP/data.bin" -o "$out.data" 2>"$out.log"
    got=$(cat "$out.name" 2>/dev/null) sum=$(sha256sum <"$out.data" 2>/dev/null | cut -d' ' -f1)
    echo "ftp from 198.18.0.$c: ${got:-error} ${sum:-error}"
    check "passive FTP via the GUE tunnel from 198.18.0.$c: byte-identical 1 MiB download" test "$sum" = "$want"
    ftp_names+="${got:-error} "
done
check "the two FTP clients' sessions went to t1 and t2 (one template each)" test "$ftp_names" = "t1 t2 "

# The wire, as tcpdump decodes it, and as the agents counted it.
kill "$TCPDUMP_TUN" "$TCPDUMP_REPLIES" 2>/dev/null
wait "$TCPDUMP_TUN" "$TCPDUMP_REPLIES" 2>/dev/null
wire=$(tcpdump -n -v -r "$E2E_TMP/tunnel.pcap" 2>/dev/null)
echo "$wire" | grep -E 'IPIP|GRE|6080' | head -n 3
check "IPIP on the wire: proto 4 from vsd to t1, DF, carrying the client's SYN to $V_IPIP" \
    grep -qE "flags \[DF\], proto IPIP \(4\).*" <<<"$wire"
check "tcpdump decodes the IPIP inner packet: 198.18.0.10 > $V_IPIP.80 inside 198.19.0.1 > 198.20.0.21" \
    grep -qzE "198\.19\.0\.1 > 198\.20\.0\.21: [^\n]*\n?[^\n]*198\.18\.0\.10\.[0-9]+ > $V_IPIP\.80" <<<"$wire"
check "the DF-clear datagram crossed as IPIP fragments (MF set, then offset 1480)" \
    grep -qzE "flags \[\+\], proto IPIP \(4\), length 1500\).*offset 1480, flags \[none\], proto IPIP \(4\)" <<<"$wire"
check "GRE on the wire: tcpdump decodes GREv0 carrying a client's packet to $V_GRE" \
    grep -qE "GREv0, .*198\.18\.0\.1[0-3]\.[0-9]+ > $V_GRE\.80" <<<"$(tr '\n' ' ' <<<"$wire")"
gue_sports=$(tcpdump -n -r "$E2E_TMP/tunnel.pcap" 'udp dst port 6080' 2>/dev/null |
    awk '{ split($3, a, "."); print a[5] }' | sort -un)
check "GUE on the wire: UDP to 6080, source ports in 32768-60999, several flows on several ports" \
    awk 'BEGIN { n = 0 } { if ($1 < 32768 || $1 > 60999) bad = 1; n++ } END { exit !(n >= 2 && !bad) }' \
    <<<"$gue_sports"
replies=$(tcpdump -n -r "$E2E_TMP/replies.pcap" 2>/dev/null | wc -l)
check "replies bypass vsd: the router forwarded $replies packets from the VIPs to the clients" test "$replies" -gt 20

sleep 0.3
for n in t1 t2; do echo "agent $n: $(tr '\n' ' ' <"$E2E_TMP/agent-$n")"; done
counter() { awk -v k="$2" '$1 == k { print $2 }' "$E2E_TMP/agent-$1"; }
check "both agents decapsulated IPIP, GUE and GRE, refused nothing, wrote every packet" \
    bash -c "for n in t1 t2; do
        f=$E2E_TMP/agent-\$n
        for k in ipip gue gre; do awk -v k=\$k '\$1 == k && \$2 > 0 { ok = 1 } END { exit !ok }' \$f || exit 1; done
        awk '\$1 == \"refused\" && \$2 == 0 { ok = 1 } END { exit !ok }' \$f || exit 1
        awk '\$1 == \"write_errors\" && \$2 == 0 { ok = 1 } END { exit !ok }' \$f || exit 1
    done"
check "IPIP and GRE outer headers copy the inner TOS and DF, TTL less the router hop (agents: none differ)" \
    test "$(counter t1 differs)/$(counter t2 differs)" = "0/0"
check "on vsd's side of the router the outer TTL equals the inner one (64, copied)" \
    grep -qzE "ttl 64, [^\n]*proto IPIP \(4\)[^\n]*\n[^\n]*198\.20\.0\.2[12]: IP \(tos 0x0, ttl 64, " <<<"$wire"

stats=$(vsd_stats)
echo "$stats" | grep -E '^worker'
check "vsd relayed the router's fragmentation-needed (icmp errors forwarded > 0) and sent its own" \
    grep -qE 'icmp errors sent [1-9][0-9]* forwarded [1-9]' <<<"$stats"
check "vsd counted the oversized DF packets as too_big" grep -qE 'too_big=[1-9]' <<<"$stats"
list=$("$VSADM" --socket "$SOCK" -L -n)
echo "$list" | head -n 6
check "vsadm -L -n shows Tunnel in the Forward column, as ipvsadm" \
    grep -qE '^  -> 198\.20\.0\.21:0 +Tunnel +1 ' <<<"$list"
check "vsadm -L -n --json gives each tunnel service's encapsulation" \
    grep -q '"tunnel":{"checksum":true,"port":6080,"type":"gue"}' <<<"$("$VSADM" --socket "$SOCK" -L -n --json)"

# Two workers: the kernel's af_packet fanout spreads packets over two queues, and every packet,
# ICMP errors about tunnel packets included, must reach the worker that owns its client.
kill -TERM "$VSD_PID"
for _ in $(seq 100); do kill -0 "$VSD_PID" 2>/dev/null || break; sleep 0.1; done
wait "$VSD_PID" 2>/dev/null
VSD_PID=
sed "s|@PREFIX@|vsd-e2e-2w-$$|; s|@SOCKET@|$E2E_TMP/admin2.sock|; s|\"-l\", \"0-1\"|\"--lcores\", \"0@0,1@1,2@0\"|;
     s|iface=vsd-ext\"|iface=vsd-ext,qpairs=2\"|; s|iface=vsd-int\"|iface=vsd-int,qpairs=2\"|;
     s|lcores: \[1\]|lcores: [1, 2]|" "$E2E_DIR/tunnel.yaml" >"$E2E_TMP/vsd2.yaml"
start_vsd "$E2E_TMP/vsd2.yaml" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }
grep steering "$VSD_LOG"
check "two workers: both ports steer by software redirect" \
    test "$(grep -c 'steering: software redirect' "$VSD_LOG")" -eq 2
# four answers, from both servers
both_servers() { grep -qE '^(t[12] ){3}t[12]$' <<<"$1" && [[ $1 == *t1* && $1 == *t2* ]]; }
for vip in $V2_IPIP $V2_GUE $V2_GRE; do
    got=$(for c in 10 11 12 13; do http_get "198.18.0.$c" "http://$vip/"; done | paste -sd ' ')
    # Each worker schedules on its own (per-core rr), so only the answers are checked here.
    check "two workers: four GETs through the tunnel to $vip are answered by t1 and t2 (got: $got)" \
        both_servers "$got"
done
for spec in "$V2_IPIP:1380:10" "$V2_GUE:1368:11" "$V2_GRE:1376:12" "$V2_IPIP:1380:13"; do
    IFS=: read -r vip mtu c <<<"$spec"
    put=$(inns cl curl -s --max-time 30 -H 'Expect:' -T "$E2E_TMP/data.bin" --interface "198.18.0.$c" \
        "http://$vip/upload")
    check "two workers: 1 MiB from 198.18.0.$c through $vip arrives intact" test "${put#* }" = "$want"
    check "two workers: the client's path MTU to $vip converged on $mtu" \
        grep -q "mtu $mtu" <<<"$(inns cl ip route get "$vip" from "198.18.0.$c")"
done
stats=$(vsd_stats)
echo "$stats" | grep -E '^worker'
check "two workers: the router's errors were relayed (icmp errors forwarded > 0 on some worker)" \
    grep -qE 'forwarded [1-9]' <<<"$stats"

e2e_summary
