#!/usr/bin/env bash
# End to end: FTP over IPv6 (RFC 2428) through a NAT66 service without persistence, so every data
# connection depends on vsd's FTP helper. Two vsftpd backends listen on IPv6 and connect from port 20
# in active mode. curl -6, from four client addresses of 2001:db8:1::/64, fetches a small file and a
# 2 MiB file made at test time over one control connection (two data connections), in two modes:
# EPRT |2| (active, with the client's own address) and EPSV (passive, 229 with a port only). Every
# download must be byte-identical, and both files of a session must come from one server.
source "$(dirname "$0")/lib.sh"

VIP=2001:db8:1::100
e2e_setup 4
e2e_ipv6 4
head -c $((2 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/data.bin"
want=$(sha256sum <"$E2E_TMP/data.bin" | cut -d' ' -f1)

for n in 1 2; do
    add_backend6 "rs$n" "198.19.0.1$n" "2001:db8:2::1$n" 8080 nat
    root=$E2E_TMP/ftp-rs$n
    mkdir -p "$root"
    cp "$E2E_TMP/data.bin" "$root/"
    echo "rs$n" >"$root/name"
    chmod 755 "$root"
    chmod 644 "$root"/*
    add_ftp_nat_backend "rs$n" "$root" 6
done
sed "s/@PREFIX@/vsd-e2e-ftp6-$$/" "$E2E_DIR/ftp6.yaml" >"$E2E_TMP/vsd.yaml"
start_vsd "$E2E_TMP/vsd.yaml" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }

# ftp_get6 SRC MODE: one curl -6 session from client address SRC that fetches `name` and data.bin.
# MODE: eprt (active, EPRT with SRC) or epsv (passive). Prints "SERVER_NAME SHA256 NEGOTIATION", the
# last being the first EPRT command or 229 reply of the session ("error" for what failed).
ftp_get6() {
    local src=$1 mode=$2 out=$E2E_TMP/get-$1 opt=()
    case $mode in
        eprt) opt=(--ftp-port "$src") ;;
        epsv) opt=(--ftp-pasv) ;;
    esac
    inns cl curl -6 -g -sS -v --connect-timeout 5 --max-time 30 --interface "$src" "${opt[@]}" \
        "ftp://[$VIP]/name" -o "$out.name" "ftp://[$VIP]/data.bin" -o "$out.data" 2>"$out.log"
    local name sum nego
    name=$(cat "$out.name" 2>/dev/null)
    sum=$(sha256sum <"$out.data" 2>/dev/null | cut -d' ' -f1)
    nego=$(grep -oE '^(> (PORT|EPRT) .*|< 22[79] .*)' "$out.log" | head -n 1 | tr -d '\r' | sed 's/ /_/g')
    echo "${name:-error} ${sum:-error} ${nego:-error}"
}

declare -A got
for c in 10:eprt 11:epsv 12:eprt 13:epsv; do
    src=2001:db8:1::${c%%:*}
    got[$src]=$(ftp_get6 "$src" "${c#*:}")
    echo "$src (${c#*:}): ${got[$src]}"
done
field() { cut -d' ' -f"$2" <<<"${got[2001:db8:1::$1]}"; }

for c in 10 11 12 13; do
    check "2001:db8:1::$c: the 2 MiB download and the small file came through, byte-identical (sha256)" \
        test "$(field $c 2)" = "$want" -a "$(field $c 1)" != error
done
for c in 10 12; do
    check "2001:db8:1::$c: curl sent EPRT |2| with its own address" \
        grep -qE "^>_EPRT_\|2\|2001:db8:1::$c\|[0-9]+\|" <<<"$(field $c 3)"
done
for c in 11 13; do
    check "2001:db8:1::$c: the server answered 229 with a port only, passed on untouched" \
        grep -qE '^<_229_.*\(\|\|\|[0-9]+\|\)' <<<"$(field $c 3)"
done
check "round robin spread the four sessions over both servers: rs1 rs2 rs1 rs2" \
    test "$(for c in 10 11 12 13; do field $c 1; done | paste -sd ' ')" = "rs1 rs2 rs1 rs2"

# vsftpd logs each complete transfer; each server served two sessions, so two copies of data.bin,
# both to IPv6 clients.
downloads() {
    local log=$E2E_TMP/vsftpd-$1.log
    if [ -f "$log" ]; then grep -c 'OK DOWNLOAD: Client "2001:db8:1::1[0-3]", "/data.bin", 2097152 bytes' "$log"; else echo 0; fi
}
logged=$(for n in 1 2; do downloads "rs$n"; done | paste -sd /)
echo "complete downloads of data.bin in the vsftpd logs of rs1/rs2: $logged"
check "the vsftpd logs show 2/2 complete downloads of data.bin to IPv6 clients on rs1/rs2" test "$logged" = "2/2"

# Per server: two sessions of one control and two data connections each, all through vsd.
stats=$(vsd_stats)
echo "$stats"
conns() { awk -v rs="$1" '$1 == "->" && index($2, rs ":") == 1 { print $8 }' <<<"$stats"; }
check "vsd counted 6/6 connections on rs1/rs2 (control + 2 data, per session)" \
    test "$(conns 2001:db8:2::11)/$(conns 2001:db8:2::12)" = "6/6"

e2e_summary
