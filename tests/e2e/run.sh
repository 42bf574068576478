#!/usr/bin/env bash
# Run every end-to-end test script (needs root for network namespaces). Each script sets up and
# tears down its own namespaces; this prints one closing line over all of them.
set -u
dir=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "e2e: needs root (network namespaces)" >&2
    exit 1
fi
passed=0 failed=0
log=$(mktemp /tmp/vsd-e2e-run.XXXXXX)
trap 'rm -f "$log"' EXIT
for t in "$dir"/test_*.sh; do
    echo "== $(basename "$t")"
    # tee to a file of our own: tee to /dev/stderr would reopen (and truncate) a log file that
    # stderr points at.
    bash "$t" 2>&1 | tee "$log"
    out=$(tail -n 1 "$log")
    if [[ $out =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1])) failed=$((failed + BASH_REMATCH[2]))
    else
        echo "e2e: $(basename "$t") ended without a summary" >&2
        failed=$((failed + 1))
    fi
done
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
