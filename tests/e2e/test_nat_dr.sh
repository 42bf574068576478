#!/usr/bin/env bash
# End to end: real curl clients from 20 source addresses reach real HTTP backends through vsd, in NAT
# (replies come back through vsd) and DR (backends hold the VIP on lo and answer directly), and the
# requests are spread exactly as the schedulers say.
source "$(dirname "$0")/lib.sh"

e2e_setup 20
for n in 1 2 3; do add_backend "rs$n" "198.19.0.1$n" 8080 nat; done
for n in 1 2 3; do add_backend "dr$n" "198.19.0.2$n" 80 dr 198.18.0.101; done
sed "s/@PREFIX@/vsd-e2e-$$/" "$E2E_DIR/e2e.yaml" >"$E2E_TMP/vsd.yaml"
start_vsd "$E2E_TMP/vsd.yaml" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }

# spread VIP N: N sequential requests, client addresses in turn; prints "name count" lines.
spread() {
    local vip=$1 n=$2 i
    for i in $(seq 0 $((n - 1))); do
        http_get "198.18.0.$((10 + i % 20))" "http://$vip/" || echo "error"
        echo
    done | grep -v '^$' | sort | uniq -c | awk '{print $2, $1}'
}

nat=$(spread 198.18.0.100 99)
echo "NAT (rr) spread:"; echo "$nat" | sed 's/^/  /'
check "NAT: 99 requests, rr gives 33 to each backend" \
    test "$nat" = "$(printf 'rs1 33\nrs2 33\nrs3 33')"

hdr=$(inns cl curl -s -D - -o /dev/null --max-time 5 --interface 198.18.0.17 http://198.18.0.100/)
check "NAT keeps the client's source address (X-Client: 198.18.0.17)" \
    grep -q "X-Client: 198.18.0.17" <<<"$hdr"

dr=$(spread 198.18.0.101 60)
echo "DR (wrr 3:2:1) spread:"; echo "$dr" | sed 's/^/  /'
check "DR: 60 requests, wrr 3:2:1 gives 30/20/10" \
    test "$dr" = "$(printf 'dr1 30\ndr2 20\ndr3 10')"

# DR replies bypass vsd: the backend answered from the VIP via the router, so vsd never saw them.
stats=$(vsd_stats)
echo "$stats"
conns() { awk -v rs="$1" '$1 == "->" && $2 == rs {print $8}' <<<"$stats"; }
outpkts() { awk -v rs="$1" '$1 == "->" && $2 == rs {print $10}' <<<"$stats"; }
check "vsd counted 34/33/33 NAT connections (99 + 1 header check)" \
    test "$(conns 198.19.0.11:8080)/$(conns 198.19.0.12:8080)/$(conns 198.19.0.13:8080)" = "34/33/33"
check "vsd counted 30/20/10 DR connections" \
    test "$(conns 198.19.0.21:80)/$(conns 198.19.0.22:80)/$(conns 198.19.0.23:80)" = "30/20/10"
check "NAT replies passed through vsd (OutPkts > 0)" test "$(outpkts 198.19.0.11:8080)" -gt 0
check "DR replies bypassed vsd (OutPkts = 0)" test "$(outpkts 198.19.0.21:80)" -eq 0

# Clean stop on SIGTERM.
kill -TERM "$VSD_PID"
rc=0
for _ in $(seq 100); do kill -0 "$VSD_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$VSD_PID" 2>/dev/null; then rc=124; else wait "$VSD_PID"; rc=$?; fi
check "vsd stops cleanly on SIGTERM (exit 0)" test "$rc" -eq 0
check "vsd closed its ports and EAL" grep -q "vsd: stopped" "$VSD_LOG"
VSD_PID=

e2e_summary
