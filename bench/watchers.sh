#!/usr/bin/env bash
# Live status at scale: importd with one queued import, then watchbench with
# 1,000 watchers on one connection and 10,000 over ten (three times, for the
# spread; and once more with a client that decodes every message in a task per
# watcher); first snapshots,
# server memory per idle watcher, and fan-out latency (p50/p99 from a state
# change to each watcher) to $1/watchers.json.
set -euo pipefail
out=$1
rounds=${BENCH_WATCH_ROUNDS:-20}
python=.build/venv/bin/python
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/importd.sh

run() {  # run WATCHERS CONNECTIONS CLIENT [ROUND]: a fresh importd each time, so memory is measured from the same start
    start_importd "$work" "$1-$3${4:+-$4}" --import-interval 8760h
    printf 'email,first_name,last_name\nana@example.com,Ana,Silva\n' > "$work/one.csv"
    local id
    id=$(.build/release/importctl upload "$work/one.csv" 2>/dev/null | head -1)
    .build/release/watchbench --server "$IMPORTCTL_SERVER" --token "$IMPORTCTL_TOKEN" --import "$id" --watchers "$1" \
        --connections "$2" --rounds "$rounds" --pid "$IMPORTD_PID" --client "$3"
    stop_importd
}
{
    echo "["
    run 1000 1 light
    echo ","
    # The 10,000-watcher fan-out three times, each on a fresh importd: the spread.
    for round in 1 2 3; do
        run 10000 10 light "$round"
        echo ","
    done
    run 10000 10 typed
    echo "]"
} > "$work/runs.json"
"$python" -c 'import json,sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2], "w"), indent=1)' "$work/runs.json" "$out/watchers.json"
cat "$out/watchers.json"
