#!/usr/bin/env bash
# Runs every cargo-fuzz target of the dataplane for a fixed time (default 20 s each).
# Works on stable Rust: `-s none` builds with libFuzzer's coverage instrumentation but no
# sanitizer (sanitizers need nightly). A crash fails the run and leaves the input under
# dataplane/fuzz/artifacts/. Seeds under dataplane/fuzz/seeds/ are frames and options
# cut from the kernel capture fixtures.
set -euo pipefail
cd "$(dirname "$0")/../dataplane/fuzz"
secs="${FUZZ_SECONDS:-20}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz >/dev/null
fi
cargo fuzz build -s none >/dev/null 2>&1 || cargo fuzz build -s none
targets=$(cargo fuzz list)
for t in $targets; do
    echo "== fuzz $t (${secs}s)" >&2
    log=$(mktemp)
    # Real kernel frames and options (from the fixtures) seed the search.
    mkdir -p "corpus/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    if ! cargo fuzz run -s none "$t" "corpus/$t" "${seeds[@]}" -- -max_total_time="$secs" >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz: target $t failed; see dataplane/fuzz/artifacts/$t/" >&2
        rm -f "$log"
        exit 1
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" >&2 || true
    rm -f "$log"
done
