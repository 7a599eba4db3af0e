#!/usr/bin/env bash
# Live status at scale: importd with one queued import, then watchbench with
# 1,000 watchers on one connection and 10,000 over ten; first snapshots,
# server memory per idle watcher, and fan-out latency (p50/p99 from a state
# change to each watcher) to $1/watchers.json.
set -euo pipefail
out=$1
rounds=${BENCH_WATCH_ROUNDS:-20}
python=.build/venv/bin/python
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

run() {  # run WATCHERS CONNECTIONS: a fresh importd each time, so memory is measured from the same start
    rm -rf "$work/data"
    mkfifo "$work/in.$1"
    (.build/release/importd --listen 127.0.0.1:0 --data-dir "$work/data" --import-interval 1h --log-level warning \
        < "$work/in.$1" > "$work/importd.$1.log" 2>&1 & echo $! > "$work/pid")
    exec {fd}>"$work/in.$1"
    for _ in $(seq 100); do [ -s "$work/data/admin.token" ] && grep -q "listening on" "$work/importd.$1.log" 2>/dev/null && break; sleep 0.1; done
    local pid port token id
    pid=$(cat "$work/pid")
    port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/importd.$1.log" | head -1)
    token=$(cat "$work/data/admin.token")
    printf 'email,first_name,last_name\nana@example.com,Ana,Silva\n' > "$work/one.csv"
    id=$(IMPORTCTL_SERVER=127.0.0.1:$port IMPORTCTL_TOKEN=$token .build/release/importctl upload "$work/one.csv" 2>/dev/null | head -1)
    .build/release/watchbench --server "127.0.0.1:$port" --token "$token" --import "$id" --watchers "$1" \
        --connections "$2" --rounds "$rounds" --pid "$pid"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    exec {fd}>&-
}
{
    echo "["
    run 1000 1
    echo ","
    run 10000 10
    echo "]"
} > "$work/runs.json"
"$python" -c 'import json,sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2], "w"), indent=1)' "$work/runs.json" "$out/watchers.json"
cat "$out/watchers.json"
