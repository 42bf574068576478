#!/usr/bin/env bash
# End to end: /metrics, /healthz and /readyz of a running vsd. Real curl requests go through a NAT
# service; the per-server connection counters must equal the requests sent, the packet and port
# counters must have moved, a SYN to a port without service is counted as a drop by reason, and the
# text must pass `promtool check metrics` (Debian's prometheus package, see scripts/install-deps.sh).
source "$(dirname "$0")/lib.sh"

e2e_setup 20
for n in 1 2 3; do add_backend "rs$n" "198.19.0.1$n" 8080 nat; done
sed "s/@PREFIX@/vsd-e2e-metrics-$$/" "$E2E_DIR/metrics.yaml" >"$E2E_TMP/vsd.yaml"
start_vsd "$E2E_TMP/vsd.yaml" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }

# The endpoint listens on 127.0.0.1 inside vsd's namespace (metrics.listen in metrics.yaml).
URL=http://127.0.0.1:9108
fetch() { inns lb curl -s --max-time 5 "$@"; }
code() { inns lb curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL$1"; }
# value TEXT 'NAME{LABELS}': the sample's value (labels as rendered, in the family's order).
value() { awk -v k="$2" '$1 == k {print $2}' <<<"$1"; }
# num VALUE: an integer for test(1); empty (a missing sample) stays empty and fails the comparison.
num() { awk -v v="$1" 'BEGIN { if (v != "") printf "%.0f", v }'; }
srv() { echo "{service=\"web\",server=\"198.19.0.1$1:8080\"}"; }

check "/healthz answers 200" test "$(code /healthz)" = 200
for _ in $(seq 50); do [ "$(code /readyz)" = 200 ] && break; sleep 0.1; done
check "/readyz answers 200 once ports and workers run" test "$(code /readyz)" = 200
check "an unknown path answers 404" test "$(code /nope)" = 404

before=$(fetch "$URL/metrics")
check "before traffic, no connections are counted" \
    test "$(value "$before" "vsd_real_server_connections_total$(srv 1)")" = 0

# 30 requests from 20 client addresses; rr gives 10 to each server.
SENT=30
ok=0
for i in $(seq 0 $((SENT - 1))); do
    body=$(http_get "198.18.0.$((10 + i % 20))" http://198.18.0.100/)
    [[ $body == rs[123]* ]] && ok=$((ok + 1))
done
check "all $SENT requests were answered" test "$ok" -eq "$SENT"
# A SYN to a VIP port without a service: dropped, reason no_service (curl gives up after 1 s).
inns cl curl -s --max-time 1 --interface 198.18.0.10 http://198.18.0.100:81/ >/dev/null

m=$(fetch "$URL/metrics")
c1=$(value "$m" "vsd_real_server_connections_total$(srv 1)")
c2=$(value "$m" "vsd_real_server_connections_total$(srv 2)")
c3=$(value "$m" "vsd_real_server_connections_total$(srv 3)")
echo "connections per server: $c1/$c2/$c3"
check "per-server connection counters equal the requests sent (10/10/10)" test "$c1/$c2/$c3" = "10/10/10"
check "the three servers' counters add up to $SENT" test "$((${c1:-0} + ${c2:-0} + ${c3:-0}))" -eq "$SENT"
for n in 1 2 3; do
    check "server $n: in and out packets and bytes moved" \
        test "$(num "$(value "$m" "vsd_real_server_in_packets_total$(srv "$n")")")" -gt 0 -a \
        "$(num "$(value "$m" "vsd_real_server_out_packets_total$(srv "$n")")")" -gt 0 -a \
        "$(num "$(value "$m" "vsd_real_server_in_bytes_total$(srv "$n")")")" -gt 0 -a \
        "$(num "$(value "$m" "vsd_real_server_out_bytes_total$(srv "$n")")")" -gt 0
done
check "server weights are the config's (1/1/2)" test \
    "$(value "$m" "vsd_real_server_weight$(srv 1)")/$(value "$m" "vsd_real_server_weight$(srv 3)")" = "1/2"
check "every server is up" test "$(grep -c '^vsd_real_server_up{.*} 1$' <<<"$m")" -eq 3
rx=$(num "$(value "$m" 'vsd_worker_rx_packets_total{worker="0"}')")
check "worker 0 received packets (rx $rx)" test "${rx:-0}" -gt 0
check "worker 0 sent packets" test "$(num "$(value "$m" 'vsd_worker_tx_packets_total{worker="0"}')")" -gt 0
check "port ext received packets (ethdev ipackets)" \
    test "$(num "$(value "$m" 'vsd_port_rx_packets_total{port="ext"}')")" -gt 0
check "port int sent packets (ethdev opackets)" \
    test "$(num "$(value "$m" 'vsd_port_tx_packets_total{port="int"}')")" -gt 0
check "the SYN to port 81 is a no_service drop" \
    test "$(num "$(value "$m" 'vsd_worker_drops_total{worker="0",reason="no_service"}')")" -ge 1
# Closed connections wait in TIME_WAIT (LVS: 2 min), so all of them are still in the table.
check "the connection table holds the $SENT connections" \
    test "$(value "$m" 'vsd_worker_conn_table_entries{worker="0"}')" = "$SENT"
check "table capacity is conn_table.capacity" \
    test "$(value "$m" 'vsd_worker_conn_table_capacity{worker="0"}')" = 65536
busy=$(num "$(value "$m" 'vsd_worker_busy_cycles_total{worker="0"}')")
all=$(num "$(value "$m" 'vsd_worker_cycles_total{worker="0"}')")
echo "busy cycles $busy of $all"
check "busy cycles are counted, and fewer than all cycles" test "${busy:-0}" -gt 0 -a "${busy:-0}" -lt "${all:-0}"
check "port steering is reported (one worker: single)" \
    grep -q '^vsd_port_steering_info{port="ext",device="net_af_packet0",mode="single"' <<<"$m"

if command -v promtool >/dev/null; then
    lint=$(promtool check metrics <<<"$m" 2>&1)
    check "promtool check metrics accepts the text" test $? -eq 0
    [ -n "$lint" ] && echo "$lint"
else
    check "promtool is installed (scripts/install-deps.sh)" false
fi
# The shipped dashboard and rules use only what vsd exports, and promtool accepts the scrape config.
missing=$(grep -oh 'vsd_[a-z_]*' "$REPO/deploy/grafana/vsd.json" "$REPO/deploy/prometheus/vsd-rules.yml" | sort -u |
    while read -r name; do grep -q "^$name[{ ]" <<<"$m" || echo "$name"; done)
check "every metric the dashboard and rules use is exported${missing:+ (missing: $missing)}" test -z "$missing"
if command -v promtool >/dev/null; then
    check "promtool accepts deploy/prometheus (config and rules)" \
        bash -c 'promtool check config "$1" >/dev/null' _ "$REPO/deploy/prometheus/prometheus.yml"
fi
om=$(fetch -D - -H 'Accept: application/openmetrics-text; version=1.0.0' "$URL/metrics")
check "OpenMetrics on request: its content type, and # EOF last" \
    bash -c 'grep -qi "^Content-Type: application/openmetrics-text; version=1.0.0" <<<"$1" &&
             test "$(tail -n 1 <<<"$1")" = "# EOF"' _ "$om"

# Clean stop on SIGTERM; the metrics thread stops with vsd.
kill -TERM "$VSD_PID"
rc=0
for _ in $(seq 100); do kill -0 "$VSD_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$VSD_PID" 2>/dev/null; then rc=124; else wait "$VSD_PID"; rc=$?; fi
check "vsd stops cleanly on SIGTERM (exit 0)" test "$rc" -eq 0
check "the metrics endpoint is gone after stop" test "$(code /healthz)" = 000
VSD_PID=

e2e_summary
