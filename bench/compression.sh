#!/usr/bin/env bash
# importctl upload over loopback, plain and --compress, alternating, several
# rounds: seconds and the bytes the CSV takes on the wire; medians to
# $1/compression.json.
set -euo pipefail
out=$1
rows=${BENCH_COMPRESSION_ROWS:-200000}
rounds=${BENCH_ROUNDS:-3}
python=.build/venv/bin/python
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p bench-out
csv=bench-out/contacts-$rows.csv
[ -s "$csv" ] || "$python" scripts/gen_contacts.py "$rows" -o "$csv" 2> /dev/null
. bench/importd.sh
start_importd "$work" bench --import-interval 24h
: > "$work/times"
for round in $(seq "$rounds"); do
    for mode in plain compress; do
        flag=(); [ "$mode" = compress ] && flag=(--compress)
        start=$(date +%s.%N)
        .build/release/importctl upload "$csv" "${flag[@]}" > /dev/null 2>&1
        end=$(date +%s.%N)
        echo "$mode $(echo "$end - $start" | bc)" >> "$work/times"
    done
done
# What --compress puts on the wire: each 256 KiB chunk gzip-compressed on its own.
"$python" - "$csv" "$work/times" "$out/compression.json" "$rows" <<'PY'
import gzip, json, statistics, sys
csv, times, out, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = open(csv, "rb").read()
wire = sum(len(gzip.compress(data[i:i + 262144], 6)) for i in range(0, len(data), 262144))
runs = {"plain": [], "compress": []}
for line in open(times):
    mode, seconds = line.split()
    runs[mode].append(float(seconds))
json.dump({"rows": rows, "bytes": len(data), "wire_bytes_compressed": wire,
           "plain": {"runs": runs["plain"], "seconds": statistics.median(runs["plain"])},
           "compress": {"runs": runs["compress"], "seconds": statistics.median(runs["compress"])}},
          open(out, "w"), indent=1)
print(open(out).read())
PY
