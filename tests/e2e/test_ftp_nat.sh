#!/usr/bin/env bash
# End to end: active and passive FTP through a NAT service without persistence, so every data
# connection depends on vsd's FTP helper. Two vsftpd backends announce their own addresses in 227
# replies and connect from port 20 in active mode. curl, from four client addresses, fetches a small
# file and a 2 MiB file made at test time over one control connection (two data connections), in
# four modes: PORT, EPRT, PASV (227, with curl using the announced address) and EPSV (229). Every
# download must be byte-identical, and both files of a session must come from one server.
source "$(dirname "$0")/lib.sh"

VIP=198.18.0.100
e2e_setup 4
head -c $((2 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/data.bin"
want=$(sha256sum <"$E2E_TMP/data.bin" | cut -d' ' -f1)
for n in 1 2; do
    add_backend "rs$n" "198.19.0.1$n" 8080 nat
    root=$E2E_TMP/ftp-rs$n
    mkdir -p "$root"
    cp "$E2E_TMP/data.bin" "$root/"
    echo "rs$n" >"$root/name"
    chmod 755 "$root"
    chmod 644 "$root"/*
    add_ftp_nat_backend "rs$n" "$root"
done
sed "s/@PREFIX@/vsd-e2e-$$/" "$E2E_DIR/ftp_nat.yaml" >"$E2E_TMP/vsd.yaml"
start_vsd "$E2E_TMP/vsd.yaml" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }

# ftp_get SRC MODE: one curl session from client address SRC that fetches `name` and data.bin.
# MODE: port, eprt (active) or pasv, epsv (passive). Prints "SERVER_NAME SHA256 NEGOTIATION", the
# last being the first PORT/EPRT command or 227/229 reply of the session ("error" for what failed).
ftp_get() {
    local src=$1 mode=$2 out=$E2E_TMP/get-$1 opt=()
    case $mode in
        port) opt=(--ftp-port - --disable-eprt) ;;
        eprt) opt=(--ftp-port -) ;;
        # curl >= 7.74 ignores the 227 address unless told not to; use it, so that the rewrite counts.
        pasv) opt=(--ftp-pasv --disable-epsv --no-ftp-skip-pasv-ip) ;;
        epsv) opt=(--ftp-pasv) ;;
    esac
    inns cl curl -sS -v --connect-timeout 5 --max-time 30 --interface "$src" "${opt[@]}" \
        "ftp://$VIP/name" -o "$out.name" "ftp://$VIP/data.bin" -o "$out.data" 2>"$out.log"
    local name sum nego
    name=$(cat "$out.name" 2>/dev/null)
    sum=$(sha256sum <"$out.data" 2>/dev/null | cut -d' ' -f1)
    nego=$(grep -oE '^(> (PORT|EPRT) .*|< 22[79] .*)' "$out.log" | head -n 1 | tr -d '\r' | sed 's/ /_/g')
    echo "${name:-error} ${sum:-error} ${nego:-error}"
}

declare -A got
for c in 10:port 11:eprt 12:pasv 13:epsv; do
    src=198.18.0.${c%%:*}
    got[${c#*:}]=$(ftp_get "$src" "${c#*:}")
    echo "$src (${c#*:}): ${got[${c#*:}]}"
done
field() { cut -d' ' -f"$2" <<<"${got[$1]}"; }

for m in port eprt pasv epsv; do
    check "$m: both 2 MiB download and the small file came through, byte-identical (sha256)" \
        test "$(field $m 2)" = "$want" -a "$(field $m 1)" != error
done
check "port: curl sent PORT with its own address" grep -qE '^>_PORT_198,18,0,10,' <<<"$(field port 3)"
check "eprt: curl sent EPRT with its own address" grep -qE '^>_EPRT_\|1\|198\.18\.0\.11\|' <<<"$(field eprt 3)"
check "pasv: the server's 227 reached the client with the VIP in it: (198,18,0,100,p1,p2)" \
    grep -qE '^<_227_.*\(198,18,0,100,[0-9]+,[0-9]+\)' <<<"$(field pasv 3)"
check "epsv: the server answered 229 with a port only" grep -qE '^<_229_.*\(\|\|\|[0-9]+\|\)' <<<"$(field epsv 3)"
check "round robin spread the four sessions over both servers: rs1 rs2 rs1 rs2" \
    test "$(for m in port eprt pasv epsv; do field $m 1; done | paste -sd ' ')" = "rs1 rs2 rs1 rs2"

# vsftpd logs each complete transfer; each server served two sessions, so two copies of data.bin.
downloads() {
    local log=$E2E_TMP/vsftpd-$1.log
    if [ -f "$log" ]; then grep -c 'OK DOWNLOAD: .*"/data.bin", 2097152 bytes' "$log"; else echo 0; fi
}
logged=$(for n in 1 2; do downloads "rs$n"; done | paste -sd /)
echo "complete downloads of data.bin in the vsftpd logs of rs1/rs2: $logged"
check "the vsftpd logs show 2/2 complete downloads of data.bin on rs1/rs2" test "$logged" = "2/2"

# Per server: two sessions of one control and two data connections each, all through vsd.
stats=$(vsd_stats)
echo "$stats"
conns() { awk -v rs="$1" '$1 == "->" && index($2, rs ":") == 1 { print $8 }' <<<"$stats"; }
check "vsd counted 6/6 connections on rs1/rs2 (control + 2 data, per session)" \
    test "$(conns 198.19.0.11)/$(conns 198.19.0.12)" = "6/6"

e2e_summary
