#!/usr/bin/env bash
# Health checks against real backends: an http check (interval 1s, fall 2, rise 2) takes a backend
# whose HTTP server was stopped to weight 0 within interval × fall, new requests avoid it, and it
# comes back within interval × rise of a restart; with every backend down the sorry server serves.
#
# vsd's namespace reaches the backends only through DPDK's ports, and checks use the host's network
# stack, so the test gives that namespace a kernel leg on the backend segment (hc0, 198.19.0.250).
source "$(dirname "$0")/lib.sh"
VSADM=${VSADM:-$REPO/target/release/vsadm}
# Seconds allowed beyond interval × fall (or × rise): the probe timeout, the spread of the first
# probes, and the control loop's 20 ms poll.
MARGIN=1.5

e2e_setup 12
add_backend rs1 198.19.0.11 8080 nat
RS1_PID=${E2E_PIDS[-1]}
add_backend rs2 198.19.0.12 8080 nat
RS2_PID=${E2E_PIDS[-1]}
add_backend sorry 198.19.0.19 8080 nat
plug lb hc0 bint
ip -n "$(ns lb)" addr add 198.19.0.250/24 dev hc0

SOCK=$E2E_TMP/admin.sock
CFG=$E2E_TMP/vsd.yaml
sed "s|@PREFIX@|vsd-e2e-health-$$|; s|@SOCKET@|$SOCK|" "$E2E_DIR/health.yaml" >"$CFG"
start_vsd "$CFG" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }
vsadm() { "$VSADM" --socket "$SOCK" "$@"; }

# weight RS: RS's weight in `vsadm -L -n`, or "absent".
weight() { vsadm -L -n | awk -v rs="$1" '$1 == "->" && $2 == rs {print $4; found=1} END {if (!found) print "absent"}'; }
# wait_weight RS WANT LIMIT: seconds until RS shows weight WANT, or "timeout" after LIMIT seconds.
wait_weight() {
    local rs=$1 want=$2 limit=$3 start now
    start=$(date +%s.%N)
    while :; do
        now=$(date +%s.%N)
        if [ "$(weight "$rs")" = "$want" ]; then awk -v a="$start" -v b="$now" 'BEGIN {printf "%.2f", b - a}'; return; fi
        if awk -v a="$start" -v b="$now" -v l="$limit" 'BEGIN {exit !(b - a > l)}'; then echo timeout; return; fi
        sleep 0.05
    done
}
within() { [ "$1" != timeout ]; }
# answers N: the backends that answer N new connections, one name a line.
answers() { for i in $(seq 0 $(($1 - 1))); do http_get "198.18.0.$((10 + i % 12))" http://198.18.0.100/; done; }
limit() { awk -v n="$1" -v m="$MARGIN" 'BEGIN {print n + m}'; }

for _ in $(seq 50); do grep -q "health: checking 2 real server" "$VSD_LOG" && break; sleep 0.1; done
check "vsd starts the checks of both real servers" grep -q "health: checking 2 real server" "$VSD_LOG"
sleep 2.5
list=$(vsadm -L -n)
echo "$list"
check "both servers are UP at weight 1, the sorry server is not listed" \
    bash -c "[ '$(weight 198.19.0.11:8080)' = 1 ] && [ '$(weight 198.19.0.12:8080)' = 1 ] && ! grep -q 198.19.0.19 <<<'$list'"
got=$(answers 6 | sort -u | tr '\n' ' ')
check "requests reach both servers ($got)" test "$got" = "rs1 rs2 "

# Stop rs1's HTTP server: DOWN after fall (2) failed probes, 1 s apart.
kill "$RS1_PID"; wait "$RS1_PID" 2>/dev/null
took=$(wait_weight 198.19.0.11:8080 0 "$(limit 2)")
check "rs1 drops to weight 0 within interval × fall + ${MARGIN}s (took ${took}s)" within "$took"
check "the transition is logged with its reason" \
    grep -q "health: 198.19.0.11:8080 in web DOWN after 2 failures (connect: connection refused)" "$VSD_LOG"
got=$(answers 8 | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')
check "new requests avoid rs1 ($got)" test "$got" = "rs2=8 "

# A reload that sets a DOWN server's weight keeps it at 0 until the server is UP.
sed -i 's/{ address: 198.19.0.11, port: 8080 }/{ address: 198.19.0.11, port: 8080, weight: 3 }/' "$CFG"
out=$(vsadm reload)
check "a reload while rs1 is DOWN is applied ($out)" grep -q "reloaded" <<<"$out"
check "...and rs1 stays at weight 0" test "$(weight 198.19.0.11:8080)" = 0

# Restart it: UP after rise (2) good probes, at the weight the reload gave it.
add_http_port rs1 8080
RS1_PID=${E2E_PIDS[-1]}
took=$(wait_weight 198.19.0.11:8080 3 "$(limit 2)")
check "rs1 is back, at its reloaded weight 3, within interval × rise + ${MARGIN}s (took ${took}s)" within "$took"
check "the return is logged" grep -q "health: 198.19.0.11:8080 in web UP after 2 successes" "$VSD_LOG"
got=$(answers 6 | sort -u | tr '\n' ' ')
check "requests reach both servers again ($got)" test "$got" = "rs1 rs2 "

# Every real server down: the sorry server takes new connections, and steps back when one returns.
kill "$RS1_PID" "$RS2_PID"
took=$(wait_weight 198.19.0.19:8080 1 "$(limit 2)")
check "with both servers DOWN the sorry server is listed at weight 1 (took ${took}s)" within "$took"
check "the sorry server's start is logged" grep -q "sorry server 198.19.0.19:8080 in web now serving" "$VSD_LOG"
got=$(answers 4 | sort -u | tr '\n' ' ')
check "requests go to the sorry server ($got)" test "$got" = "sorry "
add_http_port rs2 8080
took=$(wait_weight 198.19.0.19:8080 absent "$(limit 2)")
check "the sorry server steps back when rs2 is UP (took ${took}s)" within "$took"
got=$(answers 4 | sort -u | tr '\n' ' ')
check "requests go to rs2 again ($got)" test "$got" = "rs2 "

e2e_summary
