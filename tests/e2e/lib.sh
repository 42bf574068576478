# Shared harness for vsd's end-to-end tests: real Linux clients and servers in network namespaces,
# vsd on net_af_packet vdevs bound to veth ends. Sourced by the test scripts and the demo.
#
# Topology (every address from 198.18.0.0/15):
#
#   client ns (198.18.0.10-29) ─┐                    ┌─ rsN ns (NAT backends, gw = vsd 198.19.0.1)
#   router ns (198.18.0.1)  ────┤ bext ─ vsd ─ bint ├─ drN ns (DR backends, VIP on lo, gw = router)
#                               └─ vsd-ext   vsd-int ┴─ router ns (198.19.0.254)
#
# bext and bint are bridges in a "switch" namespace. The router joins both segments so that DR
# backends can answer clients directly, without vsd. Everything this file creates is named with the
# per-run prefix $E2E_P, recorded, and removed by e2e_cleanup (installed as an EXIT trap), also on
# failure. Processes are ended only by the pids this harness started.

set -u
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
E2E_P=${E2E_P:-vt$$}
E2E_TMP=$(mktemp -d "/tmp/vsd-e2e.XXXXXX")
E2E_NS=()
E2E_PIDS=()
VSD_PID=
VSD_BIN=${VSD_BIN:-$REPO/target/release/vsd}
PY=${PY:-/usr/bin/python3}
PASSED=0
FAILED=0

ns() { echo "${E2E_P}-$1"; }
inns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

e2e_cleanup() {
    local pid
    if [ -n "$VSD_PID" ] && kill -0 "$VSD_PID" 2>/dev/null; then
        kill -TERM "$VSD_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$VSD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$VSD_PID" 2>/dev/null
    fi
    for pid in "${E2E_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${E2E_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    for n in "${E2E_NS[@]}"; do ip netns del "$n" 2>/dev/null; done
    rm -rf "$E2E_TMP"
}

mkns() {
    local n; n=$(ns "$1")
    ip netns add "$n"
    E2E_NS+=("$n")
    ip -n "$n" link set lo up
    inns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# plug NS IFNAME BRIDGE: a veth from namespace NS (named IFNAME there) into BRIDGE in the switch.
# TX checksum offload is turned off on the namespace side, or the kernel hands af_packet packets
# whose checksums are not filled in.
plug() {
    local n=$1 ifname=$2 br=$3 port="p$((${#E2E_PLUGS} + 1))"
    E2E_PLUGS+="x"
    ip -n "$(ns sw)" link add "$port" type veth peer name "$ifname" netns "$(ns "$n")"
    ip -n "$(ns sw)" link set "$port" master "$br" up
    inns "$n" ethtool -K "$ifname" tx off >/dev/null 2>&1
    ip -n "$(ns "$n")" link set "$ifname" up
}
E2E_PLUGS=""

# e2e_setup [NCLIENTS]: switch, vsd, client and router namespaces.
e2e_setup() {
    local nclients=${1:-20} i
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM
    mkns sw
    for br in bext bint; do
        ip -n "$(ns sw)" link add "$br" type bridge
        ip -n "$(ns sw)" link set "$br" type bridge stp_state 0 forward_delay 0
        ip -n "$(ns sw)" link set "$br" up
    done
    mkns lb
    plug lb vsd-ext bext
    plug lb vsd-int bint
    mkns cl
    plug cl eth0 bext
    for i in $(seq 0 $((nclients - 1))); do
        ip -n "$(ns cl)" addr add "198.18.0.$((10 + i))/24" dev eth0
    done
    mkns rt
    plug rt eth0 bext
    plug rt eth1 bint
    ip -n "$(ns rt)" addr add 198.18.0.1/24 dev eth0
    ip -n "$(ns rt)" addr add 198.19.0.254/24 dev eth1
    inns rt sysctl -qw net.ipv4.ip_forward=1
}

# add_backend NAME ADDR PORT nat|dr [VIP...]: a real HTTP server in its own namespace that answers
# with NAME. NAT backends route through vsd; DR backends hold the VIPs on loopback, do not answer
# ARP for them (arp_ignore/arp_announce, as for LVS-DR), and answer clients via the router.
add_backend() {
    local name=$1 addr=$2 port=$3 mode=$4; shift 4
    mkns "$name"
    plug "$name" eth0 bint
    ip -n "$(ns "$name")" addr add "$addr/24" dev eth0
    if [ "$mode" = nat ]; then
        ip -n "$(ns "$name")" route add default via 198.19.0.1
    else
        inns "$name" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
            net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
        for vip in "$@"; do ip -n "$(ns "$name")" addr add "$vip/32" dev lo; done
        ip -n "$(ns "$name")" route add default via 198.19.0.254
    fi
    # Not through inns: a backgrounded shell function is a subshell, and $! would be its pid.
    ip netns exec "$(ns "$name")" "$PY" "$E2E_DIR/backend.py" "$name" 0.0.0.0 "$port" &
    E2E_PIDS+=($!)
}

# start_vsd CONFIG: run vsd in its namespace and wait until it answers ICMP echo on its ext address.
start_vsd() {
    local cfg=$1
    VSD_LOG=$E2E_TMP/vsd.log
    # `ip netns exec` execs vsd in place, so $! is vsd's own pid (signals reach vsd itself).
    ip netns exec "$(ns lb)" "$VSD_BIN" --config "$cfg" >"$VSD_LOG" 2>&1 &
    VSD_PID=$!
    for _ in $(seq 100); do
        if ! kill -0 "$VSD_PID" 2>/dev/null; then
            echo "vsd exited during start:"; cat "$VSD_LOG"; return 1
        fi
        if inns cl ping -c1 -W1 -I 198.18.0.10 198.18.0.2 >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "vsd did not answer ping on 198.18.0.2:"; cat "$VSD_LOG"; return 1
}

# vsd_stats: ask the running vsd to print its stats (SIGUSR1) and show the new part of its log.
vsd_stats() {
    local before; before=$(wc -c <"$VSD_LOG")
    kill -USR1 "$VSD_PID"
    for _ in $(seq 50); do
        sleep 0.1
        tail -c +"$((before + 1))" "$VSD_LOG" | grep -q '^-- end of stats' && break
    done
    tail -c +"$((before + 1))" "$VSD_LOG"
}

# http_get SRC URL: one real curl request from client address SRC; prints the body.
http_get() {
    inns cl curl -s --max-time 5 --interface "$1" "$2"
}

check() {
    local what=$1; shift
    if "$@"; then
        PASSED=$((PASSED + 1)); echo "ok - $what"
    else
        FAILED=$((FAILED + 1)); echo "FAIL - $what"
    fi
}

e2e_summary() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

# blob_backends: NAT backends rs1..rs3 (198.19.0.11-13) answering their name on port 80 and serving a
# 2 MiB random file at /blob on port 8081 (for long transfers); sets BLOB and its sha256 in $want.
blob_backends() {
    local n
    BLOB=$E2E_TMP/www
    mkdir -p "$BLOB"
    head -c $((2 * 1024 * 1024)) /dev/urandom >"$BLOB/blob"
    want=$(sha256sum <"$BLOB/blob" | cut -d' ' -f1)
    for n in 1 2 3; do
        add_backend "rs$n" "198.19.0.1$n" 80 nat
        ip netns exec "$(ns "rs$n")" "$PY" -m http.server 8081 --bind 0.0.0.0 --directory "$BLOB" \
            >/dev/null 2>&1 &
        E2E_PIDS+=($!)
    done
}

# add_http_port NAME PORT [ADDR]: one more backend.py HTTP server, on PORT, in the namespace of a
# backend that add_backend made (persistent services need one server answering on several ports).
# ADDR is 0.0.0.0 unless given; `::` listens on IPv6 only, beside an IPv4 server on the same port.
add_http_port() {
    local name=$1 port=$2 addr=${3:-0.0.0.0}
    ip netns exec "$(ns "$name")" "$PY" "$E2E_DIR/backend.py" "$name" "$addr" "$port" &
    E2E_PIDS+=($!)
}

# add_tls_backend NAME PORT: `openssl s_server` in backend NAME's namespace, with a self-signed
# certificate for CN=NAME made now. It serves the files of its own directory (-WWW), among them
# `name`, which holds NAME; its session cache and ticket key are its own, so a session resumes only
# on the server that issued it.
add_tls_backend() {
    local name=$1 port=$2 dir=$E2E_TMP/tls-$1
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$name" \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null || return 1
    echo "$name" >"$dir/name"
    # env -C execs s_server in place, so $! is its pid.
    ip netns exec "$(ns "$name")" env -C "$dir" openssl s_server -quiet -accept "$port" \
        -cert cert.pem -key key.pem -WWW </dev/null >"$dir/log" 2>&1 &
    E2E_PIDS+=($!)
}

# add_ftp_backend NAME DIR [PASV_ADDRESS]: vsftpd in backend NAME's namespace, anonymous and read-only,
# serving DIR, passive mode only, data ports 30000-30099. Without PASV_ADDRESS, 227 replies announce
# the address the client reached (the VIP, for a DR backend that holds it on lo).
add_ftp_backend() {
    local name=$1 root=$2 pasv=${3:-} conf=$E2E_TMP/vsftpd-$1.conf
    mkdir -p "$E2E_TMP/vsftpd-empty"
    chmod 755 "$E2E_TMP/vsftpd-empty"
    cat >"$conf" <<CONF
listen=YES
listen_ipv6=NO
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$root
local_enable=NO
write_enable=NO
pasv_enable=YES
port_enable=NO
pasv_min_port=30000
pasv_max_port=30099
${pasv:+pasv_address=$pasv}
secure_chroot_dir=$E2E_TMP/vsftpd-empty
seccomp_sandbox=NO
xferlog_enable=YES
vsftpd_log_file=$E2E_TMP/vsftpd-$name.log
CONF
    ip netns exec "$(ns "$name")" vsftpd "$conf" &
    E2E_PIDS+=($!)
}

# add_ftp_nat_backend NAME DIR: vsftpd in NAT backend NAME's namespace, anonymous and read-only,
# serving DIR in both modes: passive on data ports 30000-30099, announcing its own address (vsd's
# FTP helper rewrites it to the VIP), and active from port 20 (where vsd's helper expects the
# server's data connection, RFC 959's L-1). With a third argument 6 it listens on IPv6 only
# (listen_ipv6; EPSV's 229 names no address, so nothing is rewritten there).
add_ftp_nat_backend() {
    local name=$1 root=$2 family=${3:-4} conf=$E2E_TMP/vsftpd-nat-$1.conf
    local v4=YES v6=NO
    if [ "$family" = 6 ]; then v4=NO v6=YES; fi
    mkdir -p "$E2E_TMP/vsftpd-empty"
    chmod 755 "$E2E_TMP/vsftpd-empty"
    cat >"$conf" <<CONF
listen=$v4
listen_ipv6=$v6
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$root
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_min_port=30000
pasv_max_port=30099
port_enable=YES
connect_from_port_20=YES
secure_chroot_dir=$E2E_TMP/vsftpd-empty
seccomp_sandbox=NO
xferlog_enable=YES
vsftpd_log_file=$E2E_TMP/vsftpd-$name.log
CONF
    ip netns exec "$(ns "$name")" vsftpd "$conf" &
    E2E_PIDS+=($!)
}

# ---- IPv6 (dual stack). mkns turns IPv6 off in every namespace; these turn it back on where a test
# wants it, with addresses from 2001:db8::/32 only:
#   ext link 2001:db8:1::/64: vsd 2001:db8:1::2, router 2001:db8:1::1, clients 2001:db8:1::10..
#   int link 2001:db8:2::/64: vsd 2001:db8:2::1, router 2001:db8:2::254, backends 2001:db8:2::11..
# vsd's own namespace keeps IPv6 off: its kernel must not answer on vsd-ext/vsd-int.

# ipv6_on NS IFNAME...: IPv6 on these interfaces of namespace NS, without duplicate address
# detection (addresses are usable at once) and without router solicitations.
ipv6_on() {
    local n=$1 ifname; shift
    inns "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    for ifname in "$@"; do
        inns "$n" sysctl -qw "net.ipv6.conf.$ifname.accept_dad=0" "net.ipv6.conf.$ifname.accept_ra=0" \
            "net.ipv6.conf.$ifname.router_solicitations=0" "net.ipv6.conf.$ifname.disable_ipv6=0"
    done
}

# e2e_ipv6 [NCLIENTS]: after e2e_setup, make its topology dual stack: the clients
# 2001:db8:1::10.. (as many as NCLIENTS, 20 by default), the router on both links, forwarding.
# The bridges stop MLD snooping: vsd joins no multicast group, and its solicited-node multicast must
# reach it whatever the hosts' reports taught the bridge.
e2e_ipv6() {
    local nclients=${1:-20} i br
    for br in bext bint; do ip -n "$(ns sw)" link set "$br" type bridge mcast_snooping 0; done
    ipv6_on cl eth0
    for i in $(seq 0 $((nclients - 1))); do
        ip -n "$(ns cl)" addr add "2001:db8:1::$((10 + i))/64" dev eth0 nodad
    done
    ipv6_on rt eth0 eth1
    ip -n "$(ns rt)" addr add 2001:db8:1::1/64 dev eth0 nodad
    ip -n "$(ns rt)" addr add 2001:db8:2::254/64 dev eth1 nodad
    inns rt sysctl -qw net.ipv6.conf.all.forwarding=1
}

# add_backend6 NAME ADDR4 ADDR6 PORT nat|dr [VIP6...]: add_backend's backend (IPv4 ADDR4, server on
# PORT), dual stack: also ADDR6/64 on the int link and a second server on [::]:PORT. NAT backends
# route IPv6 through vsd (2001:db8:2::1); DR backends hold the IPv6 VIPs on lo (/128, nodad) and
# answer clients via the router (2001:db8:2::254). Linux answers Neighbour Solicitations only for
# addresses of the interface they arrive on, so a VIP on lo needs no arp_ignore counterpart.
add_backend6() {
    local name=$1 addr4=$2 addr6=$3 port=$4 mode=$5 vip; shift 5
    add_backend "$name" "$addr4" "$port" "$mode"
    ipv6_on "$name" eth0 lo
    ip -n "$(ns "$name")" addr add "$addr6/64" dev eth0 nodad
    if [ "$mode" = nat ]; then
        ip -n "$(ns "$name")" -6 route add default via 2001:db8:2::1
    else
        for vip in "$@"; do ip -n "$(ns "$name")" addr add "$vip/128" dev lo nodad; done
        ip -n "$(ns "$name")" -6 route add default via 2001:db8:2::254
    fi
    add_http_port "$name" "$port" ::
}

# http_get6 SRC URL: http_get over IPv6 (URL with a bracketed literal: http://[2001:db8:1::100]/).
http_get6() {
    inns cl curl -6 -g -s --max-time 5 --interface "$1" "$2"
}
