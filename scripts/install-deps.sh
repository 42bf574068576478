#!/usr/bin/env bash
# Install what building and testing vsd needs on Debian 12, only what is missing. Idempotent; run as
# root (the README's commands and .ci/run call it).
set -euo pipefail

PKGS=(
    libdpdk-dev dpdk dpdk-dev # DPDK 22.11 headers, pkg-config file, PMDs; dpdk-dev has dpdk-testpmd
    libclang-dev pkg-config   # bindgen at build time
    build-essential
    iproute2 ethtool iputils-ping procps   # namespaces, veths, checksum offload, ping for readiness
    curl python3              # real HTTP clients and backends in the end-to-end tests
    openssl vsftpd            # TLS affinity (s_server/s_client) and FTP backends in the end-to-end tests
    tcpdump                   # the tunnel end-to-end test checks the encapsulations on the wire
    prometheus                # promtool, to check the /metrics text in the end-to-end tests
)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages ${missing[*]}; run as root or install them" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Test tools only: their packages must not start services (vsftpd, prometheus). Forbid service
    # starts for the length of the install, as container images do, unless a policy exists already.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
    echo "install-deps: cargo not found. vsd needs Rust >= 1.85 (rustup); Debian 12's rustc is too old." >&2
    exit 1
fi
