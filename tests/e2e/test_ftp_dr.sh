#!/usr/bin/env bash
# End to end: passive FTP through a port-0 persistent DR service (the seed's FTP case). Three vsftpd
# backends hold the VIP on lo and announce it in their 227 replies; a 2 MiB file made at test time
# is downloaded with curl by four clients, in PASV (227) and EPSV (229) mode. Each download must be
# byte-identical, and each client's control and data connections must reach one server.
source "$(dirname "$0")/lib.sh"

VIP=198.18.0.101
e2e_setup 4
head -c $((2 * 1024 * 1024)) /dev/urandom >"$E2E_TMP/data.bin"
want=$(sha256sum <"$E2E_TMP/data.bin" | cut -d' ' -f1)
for n in 1 2 3; do
    add_backend "dr$n" "198.19.0.2$n" 80 dr "$VIP"
    root=$E2E_TMP/ftp-dr$n
    mkdir -p "$root"
    cp "$E2E_TMP/data.bin" "$root/"
    echo "dr$n" >"$root/name"
    chmod 755 "$root"
    chmod 644 "$root"/*
    add_ftp_backend "dr$n" "$root"
done
sed "s/@PREFIX@/vsd-e2e-$$/" "$E2E_DIR/ftp_dr.yaml" >"$E2E_TMP/vsd.yaml"
start_vsd "$E2E_TMP/vsd.yaml" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }

# ftp_get SRC MODE: one curl session from client address SRC (MODE pasv or epsv) that fetches `name`
# and data.bin over one control connection, so two passive data connections. Prints
# "SERVER_NAME SHA256 PASSIVE_REPLY" ("error" for what failed).
ftp_get() {
    local src=$1 mode=$2 out=$E2E_TMP/get-$1 opt=()
    [ "$mode" = pasv ] && opt=(--disable-epsv)
    inns cl curl -sS -v --connect-timeout 5 --max-time 20 --interface "$src" "${opt[@]}" \
        "ftp://$VIP/name" -o "$out.name" "ftp://$VIP/data.bin" -o "$out.data" 2>"$out.log"
    local name sum reply
    name=$(cat "$out.name" 2>/dev/null)
    sum=$(sha256sum <"$out.data" 2>/dev/null | cut -d' ' -f1)
    reply=$(grep -oE '^< 22[79] [^(]*\([^)]*\)' "$out.log" | head -n 1 | sed 's/^< //; s/ /_/g')
    echo "${name:-error} ${sum:-error} ${reply:-error}"
}

declare -A got
for c in 10:pasv 11:pasv 12:pasv 13:epsv; do
    src=198.18.0.${c%%:*}
    got[$src]=$(ftp_get "$src" "${c#*:}")
    echo "$src (${c#*:}): ${got[$src]}"
done
field() { for c in 10 11 12 13; do cut -d' ' -f"$1" <<<"${got[198.18.0.$c]}"; done; }

# rr gives the four clients' templates dr1, dr2, dr3, dr1.
check "each client's session reached one server, in rr order: dr1 dr2 dr3 dr1" \
    test "$(field 1 | paste -sd ' ')" = "dr1 dr2 dr3 dr1"
check "all four 2 MiB downloads are byte-identical to the file (sha256)" test "$(field 2 | sort -u)" = "$want"
check "in PASV mode the servers announced the VIP: 227 ... (198,18,0,101,p1,p2)" \
    test "$(field 3 | head -n 3 | cut -d'(' -f2 | cut -d, -f1-4 | sort -u)" = "198,18,0,101"
check "in EPSV mode the server answered 229 with a port only" \
    grep -qE '^229_.*\(\|\|\|[0-9]+\|\)$' <<<"$(field 3 | tail -n 1)"

# Every connection went through vsd: per server, one template and 3 connections (one control, two
# data) for each of its clients.
stats=$(vsd_stats)
echo "$stats"
# col RS COLUMN: a real server's column in the stats.
col() {
    awk -v rs="$1" -v name="$2" '
        $2 == "RemoteAddress:Port" { for (i = 1; i <= NF; i++) if ($i == name) c = i }
        $1 == "->" && index($2, rs ":") == 1 { print $c }' <<<"$stats"
}
cols() { echo "$(col 198.19.0.21 "$1")/$(col 198.19.0.22 "$1")/$(col 198.19.0.23 "$1")"; }
check "vsd counted 6/3/3 connections and 2/1/1 templates on dr1/dr2/dr3 (control + 2 data per client)" \
    test "$(cols Conns) $(cols PersistConn)" = "6/3/3 2/1/1"

# vsftpd logs a session only once one has reached it, so a missing log means no download.
downloads() {
    local log=$E2E_TMP/vsftpd-$1.log
    if [ -f "$log" ]; then grep -c 'OK DOWNLOAD: .*"/data.bin", 2097152 bytes' "$log"; else echo 0; fi
}
logged=$(for n in 1 2 3; do downloads "dr$n"; done | paste -sd /)
echo "complete downloads of data.bin in the vsftpd logs of dr1/dr2/dr3: $logged"
check "the vsftpd logs show 2/1/1 complete downloads of data.bin on dr1/dr2/dr3" test "$logged" = "2/1/1"

e2e_summary
