#!/usr/bin/env bash
# The demo: a namespace topology (see tests/e2e/lib.sh), vsd on deploy/examples/demo.yaml, real
# curl clients from 20 addresses against a NAT VIP and a DR VIP (the spread), then a persistent VIP
# (each client stays on its backend, on two ports: connection affinity, what vsd is built around),
# and vsd's own counters. Everything is torn down at the end, also on failure or Ctrl-C.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/tests/e2e/lib.sh"
if [ "$(id -u)" -ne 0 ]; then echo "demo: needs root (network namespaces)" >&2; exit 1; fi

REQUESTS=${REQUESTS:-120}
echo "demo: building the topology (clients 198.18.0.10-29, backends 198.19.0.11-13 NAT, .21-23 DR)"
e2e_setup 20
for n in 1 2 3; do add_backend "rs$n" "198.19.0.1$n" 8080 nat; done
for n in 1 2 3; do add_backend "dr$n" "198.19.0.2$n" 80 dr 198.18.0.101; done
echo "demo: starting vsd with deploy/examples/demo.yaml"
start_vsd "$REPO/deploy/examples/demo.yaml" || exit 1

for target in "198.18.0.100 web (NAT, rr)" "198.18.0.101 web-dr (DR, rr)"; do
    set -- $target
    vip=$1; shift
    echo
    echo "demo: $REQUESTS HTTP requests to $vip, service $*, from 20 client addresses"
    ok=0
    declare -A spread=()
    for i in $(seq 0 $((REQUESTS - 1))); do
        body=$(http_get "198.18.0.$((10 + i % 20))" "http://$vip/") && ok=$((ok + 1))
        spread[${body:-error}]=$(( ${spread[${body:-error}]:-0} + 1 ))
    done
    echo "demo: $ok/$REQUESTS answered; spread over the backends:"
    for b in $(printf '%s\n' "${!spread[@]}" | sort); do
        printf '  %-6s %4d  %s\n' "$b" "${spread[$b]}" "$(printf '#%.0s' $(seq "${spread[$b]}"))"
    done
    unset spread
done
echo
echo "demo: persistence (connection affinity): service web-sticky (NAT, rr, persistent 5m) on"
echo "      198.18.0.102, ports 80 and 443 sharing one template per client (plain HTTP on both here)."
echo "demo: each of 20 clients makes 3 connections to port 80, then 3 to port 443:"
stuck=0
declare -A clients=()
for c in $(seq 10 29); do
    seen=()
    for port in 80 80 80 443 443 443; do
        seen+=("$(http_get "198.18.0.$c" "http://198.18.0.102:$port/" || echo error)")
    done
    printf '  198.18.0.%-3s %s %s %s | %s %s %s\n' "$c" "${seen[@]}"
    if [ "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" -eq 1 ] && [ "${seen[0]}" != error ]; then
        stuck=$((stuck + 1))
        clients[${seen[0]}]=$(( ${clients[${seen[0]}]:-0} + 1 ))
    fi
done
echo "demo: $stuck/20 clients kept one backend for all 6 connections, across both ports;"
echo "      the first connection of each client was scheduled (rr), the rest followed its template:"
for b in $(printf '%s\n' "${!clients[@]}" | sort); do
    printf '  %-6s %2d clients\n' "$b" "${clients[$b]}"
done
echo
echo "demo: vsd's own view (SIGUSR1):"
vsd_stats
echo
echo "demo: tearing down"
