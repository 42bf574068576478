#!/usr/bin/env bash
# Snapshot swaps under load: while real clients download large files over established connections and
# make short requests without pause, 100 reloads in a row switch both workers to a new config
# snapshot (the TCP timeout flips each time). Every reload must be acknowledged by every worker (the
# epochs run 2..101 without a gap), no download may break, and no request may fail.
source "$(dirname "$0")/lib.sh"
VSADM=${VSADM:-$REPO/target/release/vsadm}

e2e_setup 8
blob_backends
SOCK=$E2E_TMP/admin.sock
CFG=$E2E_TMP/vsd.yaml
render() { sed "s|@PREFIX@|vsd-e2e-reload-$$|; s|@SOCKET@|$SOCK|; s|@TCP@|$1|" "$E2E_DIR/reload.yaml"; }
render 900s >"$CFG"
start_vsd "$CFG" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }
sleep 0.5

# Four slow downloads (about 10 s each): established connections that live through every reload.
dl_pids=()
for i in 0 1 2 3; do
    ip netns exec "$(ns cl)" curl -s --max-time 60 --limit-rate 200k --interface "198.18.0.$((10 + i))" \
        -o "$E2E_TMP/dl$i" http://198.18.0.100:8081/blob &
    dl_pids+=($!)
done
# Short requests, back to back, from the other clients.
(
    fails=0 total=0
    while [ ! -e "$E2E_TMP/stop" ]; do
        for i in 4 5 6 7; do
            total=$((total + 1))
            [ -n "$(http_get "198.18.0.$((10 + i))" http://198.18.0.100/)" ] || fails=$((fails + 1))
        done
    done
    echo "$total $fails" >"$E2E_TMP/short"
) &
short_pid=$!

epochs=""
for r in $(seq 1 100); do
    render "$((900 + r % 2))s" >"$CFG"
    out=$("$VSADM" --socket "$SOCK" reload 2>&1)
    epochs+="$(grep -o 'epoch [0-9]*' <<<"$out" | cut -d' ' -f2) "
done
touch "$E2E_TMP/stop"
wait "$short_pid"
dl_ok=0
for i in 0 1 2 3; do
    wait "${dl_pids[$i]}" && [ "$(sha256sum <"$E2E_TMP/dl$i" | cut -d' ' -f1)" = "$want" ] && dl_ok=$((dl_ok + 1))
done
read -r total fails <"$E2E_TMP/short"
echo "epochs: ${epochs:0:40}... ${epochs: -20}"
echo "short requests: $total, failed: $fails; downloads intact: $dl_ok/4"

check "100 reloads, each acknowledged by both workers: epochs 2..101 in order" \
    test "$epochs" = "$(seq 2 101 | tr '\n' ' ')"
check "the four downloads that were established through all reloads arrived intact" test "$dl_ok" -eq 4
check "the short requests made during the reloads all succeeded ($total)" test "$fails" -eq 0 -a "$total" -gt 0
check "the TCP timeout of the last snapshot is in force" \
    test "$("$VSADM" --socket "$SOCK" --timeout)" = "Timeout (tcp tcpfin udp): 900 120 300"
e2e_summary
