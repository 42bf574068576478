#!/usr/bin/env bash
# Reloads that change the server set under continuous client traffic (two workers): add a real
# server and a whole service, change weights, drain and remove a server, remove the service, push
# a broken file, and add a server back with `vsadm -a`.
# Slow downloads established before the first reload run through all of them; every one homed on a
# kept server must arrive intact, no short request may fail, and the broken file changes nothing.
source "$(dirname "$0")/lib.sh"
VSADM=${VSADM:-$REPO/target/release/vsadm}

e2e_setup 12
blob_backends
SOCK=$E2E_TMP/admin.sock
CFG=$E2E_TMP/vsd.yaml
# render "WEB_SERVERS" "API_SERVERS": the config, with `n:w` items (198.19.0.1n at weight w); no API
# servers, no api service.
render() {
    local s
    sed "s|@PREFIX@|vsd-e2e-reload-servers-$$|; s|@SOCKET@|$SOCK|; s|@TCP@|900s|" "$E2E_DIR/reload.yaml" |
        sed '/^services:/,$d'
    echo "services:"
    echo "  - { name: web, vips: [198.18.0.100], protocol: tcp, ports: [80, 8081], scheduler: rr, forwarding: nat,"
    echo "      real_servers: ["
    for s in $1; do echo "        { address: 198.19.0.1${s%:*}, weight: ${s#*:} },"; done
    echo "      ] }"
    if [ -n "$2" ]; then
        echo "  - { name: api, vips: [198.18.0.101], protocol: tcp, ports: [80], scheduler: rr, forwarding: nat,"
        echo "      real_servers: ["
        for s in $2; do echo "        { address: 198.19.0.1${s%:*}, weight: ${s#*:} },"; done
        echo "      ] }"
    fi
    echo "admin: { socket: \"$SOCK\" }"
}
vsadm() { "$VSADM" --socket "$SOCK" "$@"; }
export VSADM SOCK
export -f vsadm
reload() { vsadm reload 2>&1; }

render "1:1 2:1" "" >"$CFG"
start_vsd "$CFG" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }
sleep 0.5

# Four slow downloads (about 14 s each) through every reload; a stalled one gives up after 5 s.
dl_pids=()
for i in 0 1 2 3; do
    ip netns exec "$(ns cl)" curl -s --max-time 60 --limit-rate 150k --speed-limit 1000 --speed-time 5 \
        --interface "198.18.0.$((10 + i))" -o "$E2E_TMP/dl$i" http://198.18.0.100:8081/blob &
    dl_pids+=($!)
done
# Short requests, back to back; each answer (a server name) is logged after the phase it ran in.
echo "phase A" >"$E2E_TMP/answers"
(
    fails=0 total=0
    while [ ! -e "$E2E_TMP/stop" ]; do
        for i in 4 5 6 7; do
            total=$((total + 1))
            a=$(http_get "198.18.0.$((10 + i))" http://198.18.0.100/)
            if [ -n "$a" ]; then echo "$a" >>"$E2E_TMP/answers"; else fails=$((fails + 1)); fi
        done
    done
    echo "$total $fails" >"$E2E_TMP/short"
) &
short_pid=$!
sleep 1

# Where each download went: its client's line in the connection listing.
conns=$(vsadm -L -n -c)
declare -a home
for i in 0 1 2 3; do
    home[$i]=$(awk -v c="198.18.0.$((10 + i)):" '$4 ~ "^"c && $5 ~ /:8081$/ {split($6, a, ":"); print a[1]}' <<<"$conns")
done
echo "download homes: ${home[*]}"

out=$(render "1:2 2:1 3:1" "1:1 2:1 3:1" >"$CFG" && reload)
echo "$out"
check "reload adding a server and a service is applied with a snapshot switch" grep -q 'snapshot epoch 2' <<<"$out"
echo "phase B" >>"$E2E_TMP/answers"
list=$(vsadm -L -n)
echo "$list"
check "-L -n shows the added server, the new weight and the new service" bash -c \
    "grep -qE '^  -> 198.19.0.13:0 +Masq +1 ' <<<'$list' && grep -qE '^  -> 198.19.0.11:0 +Masq +2 ' <<<'$list' \
     && grep -q '^TCP  198.18.0.101:80 rr' <<<'$list'"
# Six clients: with per-core round robin on two workers, one worker sees three of them.
api=$(for i in 0 1 8 9 10 11; do http_get "198.18.0.$((10 + i))" http://198.18.0.101/; done | sort -u | tr '\n' ' ')
check "the new service answers from its servers ($api)" test "$api" = "rs1 rs2 rs3 "
sleep 2

out=$(render "1:2 2:0 3:1" "1:1 2:0 3:1" >"$CFG" && reload)
check "reload quiescing a server changes weights without a switch: $out" \
    bash -c "grep -q 'change(s)$' <<<'$out' && ! grep -q epoch <<<'$out'"
sleep 2  # the quiesced server's short connections finish
echo "phase D" >>"$E2E_TMP/answers"

out=$(render "1:2 3:1" "" >"$CFG" && reload)
echo "$out"
# Services, servers, forwarding and weights, without the connection counts that move with traffic.
layout() { vsadm -L -n | awk '{print $1, $2, $3}'; }
before=$(layout)
echo "$before"
check "reload removing a server and a service: they leave the listing" \
    bash -c "! grep -q '198.19.0.12:' <<<'$before' && ! grep -q '198.18.0.101:' <<<'$before'"
check "the removed service takes no new connection" \
    bash -c "! inns cl curl -s --max-time 2 --interface 198.18.0.20 http://198.18.0.101/"
sleep 2

printf 'services:\n  - name: web\n    bogus_key: 1\n' >"$CFG"
out=$(reload)
echo "$out"
check "a broken file is refused with the reason" grep -q "bogus_key" <<<"$out"
check "the broken file changed nothing" test "$(layout)" = "$before"
check "vsd logged the refusal" grep -q "reload refused" "$VSD_LOG"
sleep 1

vsadm -a -t 198.18.0.100:80 -r 198.19.0.12 -w 1
echo "phase E" >>"$E2E_TMP/answers"
check "vsadm -a puts a server into the running service" bash -c "vsadm -L -n | grep -qE '^  -> 198.19.0.12:0 +Masq +1 '"
check "vsadm save shows the server added at run time" bash -c "vsadm save | grep -q 'address: 198.19.0.12'"
check "vsadm -a refuses a server the service has, with the reason" \
    bash -c "vsadm -a -t 198.18.0.100:80 -r 198.19.0.12 2>&1 | grep -q 'already has real server'"
sleep 2

touch "$E2E_TMP/stop"
wait "$short_pid"
read -r total fails <"$E2E_TMP/short"
kept_ok=0 kept=0
for i in 0 1 2 3; do
    ok=0
    wait "${dl_pids[$i]}" && [ "$(sha256sum <"$E2E_TMP/dl$i" | cut -d' ' -f1)" = "$want" ] && ok=1
    echo "download $i via ${home[$i]}: $([ $ok = 1 ] && echo intact || echo broken)"
    if [ "${home[$i]}" != 198.19.0.12 ]; then kept=$((kept + 1)) kept_ok=$((kept_ok + ok)); fi
done
b=$(sed -n '/^phase B/,/^phase D/p' "$E2E_TMP/answers" | grep -c '^rs3$')
d=$(sed -n '/^phase D/,/^phase E/p' "$E2E_TMP/answers" | grep -c '^rs2$')
e=$(sed -n '/^phase E/,$p' "$E2E_TMP/answers" | grep -c '^rs2$')
echo "short requests: $total, failed: $fails; rs3 answers after adding it: $b; rs2 answers after draining: $d"
check "every download homed on a kept server arrived intact ($kept_ok/$kept)" \
    test "$kept" -gt 0 -a "$kept_ok" -eq "$kept"
check "no short request failed through four reloads ($total)" test "$fails" -eq 0 -a "$total" -gt 0
check "the added server took short requests at once" test "$b" -gt 0
check "the drained and removed server took none after draining" test "$d" -eq 0
check "the server added back by vsadm -a took short requests at once ($e)" test "$e" -gt 0
e2e_summary
