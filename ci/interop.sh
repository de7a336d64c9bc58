#!/usr/bin/env bash
# The interop suite: mpdk against the Linux kernel's MPTCP in network namespaces.
#
#   ci/interop.sh                 mpdk (target/release/mpdk) against the kernel
#   ci/interop.sh --self-test     the kernel on both sides: proves the harness itself
#   ci/interop.sh --only NAME     run the cases whose name contains NAME
#
# Needs root (network namespaces), iproute2, ethtool, nftables and Python 3. Fails
# loudly when namespaces cannot be made; prints one verdict line per case and ends
# with `N passed, N failed`. See ci/interop/interop.py for the topology and cases.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "interop: must run as root (network namespaces)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
for t in ip ethtool nft nstat python3; do
    command -v "$t" >/dev/null || { echo "interop: missing tool $t (run ci/install-deps.sh)" >&2; echo "0 passed, 1 failed"; exit 1; }
done
if [[ " $* " != *" --self-test "* ]]; then
    cargo build --release -q -p control --bin mpdk
fi
exec python3 ci/interop/interop.py "$@"
