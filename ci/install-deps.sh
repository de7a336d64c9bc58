#!/usr/bin/env bash
# Installs what mpdk needs to build, test and run its demo on Debian 12 (bookworm):
# DPDK 22.11 (libdpdk-dev), libclang for bindgen, pkg-config, and the tools the tests
# use as independent checks (tshark, tcpdump) or to reach the kernel (iproute2,
# ethtool, nftables). Idempotent: installs only what is missing.
set -euo pipefail

pkgs=(pkg-config libclang-dev libdpdk-dev tshark tcpdump iproute2 ethtool nftables python3 clang)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "install-deps: cargo not found; install Rust (stable) with rustup first" >&2
    exit 1
fi
