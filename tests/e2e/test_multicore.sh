#!/usr/bin/env bash
# Many cores: vsd with 2 and then 3 workers on af_packet queue pairs. The kernel's fanout spreads a
# client's connections over the queues by 5-tuple, so most packets arrive on a worker that does not
# own them and must cross a redirect ring to the owner (the worker of the client address). Still:
# port-0 persistence keeps every client on one server across ports, NAT replies find their
# connection, passive FTP through a port-0 DR service works, and active and passive FTP through a
# NAT service work (the FTP helper's entries and expectations live on the client's owner).
source "$(dirname "$0")/lib.sh"

e2e_setup 20
for n in 1 2 3; do
    add_backend "rs$n" "198.19.0.1$n" 80 nat
    add_http_port "rs$n" 8080
    add_backend "dr$n" "198.19.0.2$n" 80 dr 198.18.0.101
done
FTP_ROOT=$E2E_TMP/ftp
mkdir -p "$FTP_ROOT" && chmod 755 "$FTP_ROOT"
head -c 1048576 /dev/urandom >"$FTP_ROOT/blob"
chmod 644 "$FTP_ROOT/blob"
want=$(sha256sum <"$FTP_ROOT/blob" | cut -d' ' -f1)
for n in 1 2 3; do
    add_ftp_backend "dr$n" "$FTP_ROOT"
    add_ftp_nat_backend "rs$n" "$FTP_ROOT"
done

stop_vsd() {
    kill -TERM "$VSD_PID"
    for _ in $(seq 100); do kill -0 "$VSD_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$VSD_PID" 2>/dev/null
    VSD_PID=
}

run_with() {
    local workers=$1 lcores=$2 lcoremap=$3 i r port
    echo "== $workers workers"
    sed "s/@PREFIX@/vsd-e2e-mc$workers-$$/; s/@WORKERS@/$workers/g; s/@LCORES@/$lcores/; s/@LCOREMAP@/$lcoremap/" \
        "$E2E_DIR/multicore.yaml" >"$E2E_TMP/vsd$workers.yaml"
    start_vsd "$E2E_TMP/vsd$workers.yaml" || { FAILED=$((FAILED + 1)); return; }
    grep "steering" "$VSD_LOG"
    check "$workers workers: the af_packet ports steer by software redirect" \
        test "$(grep -c 'steering: software redirect' "$VSD_LOG")" -eq 2

    # 20 clients × 6 connections, alternating ports 80 and 8080 of the port-0 NAT service.
    local got
    got=$(for r in $(seq 0 5); do
        for i in $(seq 0 19); do
            port=$(((r + i) % 2 == 0 ? 80 : 8080))
            body=$(http_get "198.18.0.$((10 + i))" "http://198.18.0.100:$port/") || body=error
            echo "$i ${body:-error}"
        done
    done | awk '!seen[$1, $2]++ { got[$1] = got[$1] " " $2 } END { for (i = 0; i < 20; i++) print i ":" got[i] }')
    echo "$got" | sed 's/^/  client /'
    check "$workers workers: 120 NAT connections answered (replies found their connections)" \
        bash -c "! grep -q error <<<'$got'"
    check "$workers workers: each of 20 clients stayed on one server across both ports" \
        test -z "$(awk -F: '{ if (split($2, a, " ") != 1) print }' <<<"$got")"
    check "$workers workers: the clients are spread over the servers" \
        test "$(awk -F: '{print $2}' <<<"$got" | sort -u | wc -l)" -ge 2

    local ok=0
    for i in 0 1 2 3; do
        got_sum=$(inns cl curl -s --max-time 20 --interface "198.18.0.$((10 + i))" "ftp://198.18.0.101/blob" | sha256sum | cut -d' ' -f1)
        [ "$got_sum" = "$want" ] && ok=$((ok + 1))
    done
    check "$workers workers: 4 passive FTP downloads through a port-0 DR service are byte-identical" test "$ok" -eq 4

    ok=0
    local mode opt
    for mode in port eprt pasv epsv; do
        case $mode in
            port) opt=(--ftp-port - --disable-eprt) ;;
            eprt) opt=(--ftp-port -) ;;
            pasv) opt=(--ftp-pasv --disable-epsv --no-ftp-skip-pasv-ip) ;;
            epsv) opt=(--ftp-pasv) ;;
        esac
        for i in 4 5; do
            got_sum=$(inns cl curl -s --max-time 20 --interface "198.18.0.$((10 + i))" "${opt[@]}" \
                "ftp://198.18.0.102/blob" | sha256sum | cut -d' ' -f1)
            [ "$got_sum" = "$want" ] && ok=$((ok + 1))
        done
    done
    check "$workers workers: active (PORT, EPRT) and passive (PASV, EPSV) FTP through NAT, 8 downloads byte-identical" \
        test "$ok" -eq 8

    local stats out
    stats=$(vsd_stats)
    echo "$stats" | grep -E "^worker|^port"
    out=$(awk '/^worker [0-9]+: / { for (i = 1; i <= NF; i++) if ($i == "out") { gsub(",", "", $(i + 1)); s += $(i + 1) } } END { print s + 0 }' <<<"$stats")
    check "$workers workers: packets crossed the redirect rings ($out)" test "$out" -gt 0
    check "$workers workers: every worker owns connections" \
        test "$(grep -E '^worker [0-9]+:' <<<"$stats" | grep -vc 'conns created 0 ')" -eq "$workers"
    check "$workers workers: no redirect ring overflowed" bash -c "! grep -q redirect_full <<<'$stats'"
    stop_vsd
}

run_with 2 "1, 2" "0@0,1@1,2@0"
run_with 3 "1, 2, 3" "0@0,1@1,2@0,3@1"
e2e_summary
