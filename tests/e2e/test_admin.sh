#!/usr/bin/env bash
# vsadm against a running vsd: ipvsadm-style listings, runtime weight edits (quiescing), server
# removal by `vsadm reload` and SIGHUP, and LVS's persistence rules across those changes: a quiesced
# server keeps its clients, a removed server's clients move, everyone else stays put.
source "$(dirname "$0")/lib.sh"
VSADM=${VSADM:-$REPO/target/release/vsadm}

e2e_setup 12
for n in 1 2 3; do add_backend "dr$n" "198.19.0.2$n" 80 dr 198.18.0.105; done
SOCK=$E2E_TMP/admin.sock
CFG=$E2E_TMP/vsd.yaml
render() { sed "s|@PREFIX@|vsd-e2e-admin-$$|; s|@SOCKET@|$SOCK|" "$E2E_DIR/admin.yaml"; }
render >"$CFG"

check "vsadm says clearly that vsd is not running" \
    bash -c "! '$VSADM' --socket '$SOCK' -L -n 2>&1 | grep -q 'is vsd running'; test \$? -eq 1"
start_vsd "$CFG" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }
vsadm() { "$VSADM" --socket "$SOCK" "$@"; }

check "admin socket is mode 0660" test "$(stat -c %a "$SOCK")" = 660
# Another user (nobody, not in the socket's group) is told it is not permitted. The temp dir is
# opened up so that only the socket's own mode stands in the way.
chmod 755 "$E2E_TMP"
install -m 755 "$VSADM" "$E2E_TMP/vsadm"
denied=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$E2E_TMP/vsadm" --socket "$SOCK" -L -n 2>&1)
echo "$denied"
check "vsadm as another user says the socket is not permitted" grep -q "not permitted to use" <<<"$denied"
list=$(vsadm -L -n)
echo "$list"
check "-L -n lists the service and its three servers" \
    bash -c "grep -q '^TCP  198.18.0.105:0 rr persistent 300' <<<'$list' && test \$(grep -c '^  -> 198.19.0.2[123]:0 ' <<<'$list') -eq 3"

# who CLIENT_INDEX: the backend that answers client 198.18.0.(10+i) on port 80 (a new connection).
who() { http_get "198.18.0.$((10 + $1))" http://198.18.0.105/; }
declare -a home
for i in $(seq 0 11); do home[$i]=$(who "$i"); done
echo "homes: ${home[*]}"
check "rr spreads 12 clients' templates 4/4/4" \
    test "$(printf '%s\n' "${home[@]}" | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" = "4 4 4 "

sleep 4.5  # two of LVS's 2 s estimation intervals
rate=$(vsadm -L -n --rate)
echo "$rate"
check "--rate shows ipvsadm's rate columns and non-zero rates for the service" \
    bash -c "grep -q 'CPS    InPPS   OutPPS    InBPS   OutBPS' <<<'$rate' && awk '\$1 == \"TCP\" && \$3 + \$4 > 0' <<<'$rate' | grep -q ."
json=$(vsadm -L -n --json)
check "--json lists the service with its three servers for machines" \
    test "$("$PY" -c 'import json,sys; d=json.load(sys.stdin); s=d["services"][0]; print(s["name"], len(s["servers"]), sum(x["persistent"] for x in s["servers"]))' <<<"$json")" = "sticky 3 12"
check "-c --json lists the 12 templates" \
    test "$("$PY" -c 'import json,sys; print(sum(c["template"] for c in json.load(sys.stdin)["connections"]))' <<<"$(vsadm -L -n -c --json)")" = 12
conns=$(vsadm -L -n -c)
check "-L -n -c lists templates (NONE, client port 0)" grep -q "^TCP .* NONE .*198.18.0.10:0 .*198.18.0.105:0 " <<<"$conns"
check "-L -n -c lists connections with their state" grep -Eq "^TCP .* (TIME_WAIT|FIN_WAIT|ESTABLISHED|CLOSE) " <<<"$conns"
pc=$(vsadm -L -n --persistent-conn)
check "--persistent-conn counts 4 templates per server" \
    test "$(awk '$1 == "->" && $2 ~ /^198/ {print $4}' <<<"$pc" | tr '\n' ' ')" = "4 4 4 "

# Quiesce dr1: its clients stay (templates stay valid), new clients never get it.
vsadm -e -t 198.18.0.105:0 -r 198.19.0.21 -w 0
check "weight 0 shows in the listing" grep -q "198.19.0.21:0 .* Route  *0 " <<<"$(vsadm -L -n)"
moved=0; for i in $(seq 0 11); do [ "$(who "$i")" = "${home[$i]}" ] || moved=$((moved + 1)); done
check "quiescing moves no existing client" test "$moved" -eq 0
new=$(for i in 12 13 14 15; do http_get "198.18.0.$((10 + i))" http://198.18.0.105/ 2>/dev/null; echo; done)
check "new clients avoid the quiesced server" bash -c "! grep -q dr1 <<<'$new'"

# Remove dr2 from the file and reload through vsadm: its clients move, the others stay.
render | grep -v "198.19.0.22" | sed 's/{ address: 198.19.0.21 }/{ address: 198.19.0.21, weight: 0 }/' >"$CFG"
out=$(vsadm reload)
check "vsadm reload applies the change" grep -q "reloaded" <<<"$out"
check "-L -n no longer lists the removed server" bash -c "! grep -q 198.19.0.22 <<<'$(vsadm -L -n)'"
stay=0 moved=0
for i in $(seq 0 11); do
    now=$(who "$i")
    if [ "${home[$i]}" = dr2 ]; then [ "$now" != dr2 ] && [ -n "$now" ] && moved=$((moved + 1))
    else [ "$now" = "${home[$i]}" ] && stay=$((stay + 1)); fi
done
check "the removed server's 4 clients were rescheduled" test "$moved" -eq 4
check "the other 8 clients kept their server" test "$stay" -eq 8

# A broken file is refused and changes nothing; SIGHUP works like vsadm reload.
echo "services: [ {name: x" >"$CFG"
check "a reload of a broken file is refused with the reason" \
    bash -c "! '$VSADM' --socket '$SOCK' reload 2>&1 | grep -q 'vsd.yaml'; test \$? -eq 1"
check "...and changed nothing" grep -q "198.19.0.21:0 .* Route  *0 " <<<"$(vsadm -L -n)"
render >"$CFG"
kill -HUP "$VSD_PID"
for _ in $(seq 50); do grep -q "198.19.0.22" <<<"$(vsadm -L -n)" && break; sleep 0.1; done
check "SIGHUP reload brings the server back with its weights" \
    bash -c "grep -q '198.19.0.22:0 .* Route  *1 ' <<<'$(vsadm -L -n)' && grep -q '198.19.0.21:0 .* Route  *1 ' <<<'$(vsadm -L -n)'"

# Settings that live in the snapshot (timeouts, scheduler) switch every worker to a new epoch;
# connections and templates survive it.
declare -a before
for i in $(seq 0 11); do before[$i]=$(who "$i"); done
{ render | sed 's/scheduler: rr/scheduler: wrr/'; echo "timeouts: { tcp: 600s, tcp_fin: 30s, udp: 60s }"; } >"$CFG"
out=$(vsadm reload)
echo "$out"
# Epoch 1 at start; the removal and the return of dr2 were switches 2 and 3.
check "a reload of timeouts and scheduler switches the workers to snapshot epoch 4" grep -q "epoch 4" <<<"$out"
check "--timeout shows the new timeouts" test "$(vsadm --timeout)" = "Timeout (tcp tcpfin udp): 600 30 60"
check "-L -n shows the new scheduler" grep -q "^TCP  198.18.0.105:0 wrr persistent 300" <<<"$(vsadm -L -n)"
kept=0; for i in $(seq 0 11); do [ "$(who "$i")" = "${before[$i]}" ] && kept=$((kept + 1)); done
check "every client kept its server across the snapshot switch" test "$kept" -eq 12

e2e_summary
