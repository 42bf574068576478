#!/usr/bin/env bash
# End to end: TLS affinity (the seed's SSL case). `openssl s_server` on three NAT backends, each with
# its own self-signed certificate, session cache and ticket key, so a session resumes only on the
# server that issued it. Through a persistent service, repeated `openssl s_client` connections from
# one client reach one backend and resume their session ("Reused"). Through the same backends without
# persistence, rr moves every connection and no session resumes: that is what persistence is for.
source "$(dirname "$0")/lib.sh"

e2e_setup 4
for n in 1 2 3; do
    add_backend "rs$n" "198.19.0.1$n" 80 nat
    add_tls_backend "rs$n" 443 || { echo "openssl could not make a certificate"; exit 1; }
done
sed "s/@PREFIX@/vsd-e2e-$$/" "$E2E_DIR/tls.yaml" >"$E2E_TMP/vsd.yaml"
start_vsd "$E2E_TMP/vsd.yaml" || { FAILED=$((FAILED + 1)); e2e_summary; exit 1; }

# tls_get SRC VIP SESSION: one TLS connection from client address SRC that asks for /name, resuming
# the session stored in file SESSION if there is one and storing the new one there. Prints
# "BACKEND:CERT_CN:New|Reused" ("error" parts when the connection failed).
tls_get() {
    local src=$1 vip=$2 sess=$3 out in=()
    [ -s "$sess" ] && in=(-sess_in "$sess")
    out=$(printf 'GET /name HTTP/1.0\r\n\r\n' | inns cl timeout 10 openssl s_client -bind "$src" \
        -connect "$vip:443" -servername vsd.test "${in[@]}" -sess_out "$sess.new" -ign_eof 2>/dev/null)
    mv -f "$sess.new" "$sess" 2>/dev/null
    local name cn how
    name=$(grep -xE 'rs[0-9]' <<<"$out" | tail -n 1)
    cn=$(sed -n 's/^subject=CN = //p' <<<"$out" | head -n 1)
    how=$(grep -oE '^(New|Reused), ' <<<"$out" | tr -d ', ')
    echo "${name:-error}:${cn:-error}:${how:-error}"
}

# series SRC VIP N: N connections in a row from SRC, each resuming the previous one's session.
series() {
    local sess=$E2E_TMP/session-$1-$2
    for _ in $(seq "$3"); do tls_get "$1" "$2" "$sess"; done | paste -sd ' '
}

a=$(series 198.18.0.10 198.18.0.100 5)
b=$(series 198.18.0.11 198.18.0.100 3)
echo "persistent: client A -> $a"
echo "persistent: client B -> $b"
check "persistent: client A's 5 connections all reach rs1 (rr's first pick), certificate CN=rs1" \
    test "$(tr ' ' '\n' <<<"$a" | cut -d: -f1,2 | sort -u)" = "rs1:rs1"
check "persistent: client A's first handshake is New, the 4 resumptions are Reused" \
    test "$(tr ' ' '\n' <<<"$a" | cut -d: -f3 | paste -sd ' ')" = "New Reused Reused Reused Reused"
check "persistent: client B gets its own server (rs2) and resumes there" \
    test "$b" = "rs2:rs2:New rs2:rs2:Reused rs2:rs2:Reused"

# Without persistence rr moves each connection, and a session from one server is refused by the next.
c=$(series 198.18.0.12 198.18.0.101 3)
echo "not persistent: client C -> $c"
check "not persistent: client C's 3 connections go to rs1, rs2, rs3 and no session resumes" \
    test "$c" = "rs1:rs1:New rs2:rs2:New rs3:rs3:New"

e2e_summary
