#!/usr/bin/env bash
# Upload end to end: a 1 GiB CSV through `importctl upload` into importd over
# loopback, plain and --compress, alternating, several rounds, each on a fresh
# importd (so its peak RSS is the upload's): seconds, MB/s, the bytes the CSV
# takes on the wire, and both processes' peak RSS; medians to
# $1/compression.json.
set -euo pipefail
out=$1
size_mb=${BENCH_UPLOAD_MB:-1024}
rounds=${BENCH_UPLOAD_ROUNDS:-2}
python=.build/venv/bin/python
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The file: the project's generated contacts (1M rows, seeded), their rows
# repeated until the file holds $size_mb MiB. An upload checks the header and
# the encoding and counts rows; repeated rows cost it what new ones would.
mkdir -p bench-out
base=bench-out/contacts-1000000.csv
[ -s "$base" ] || "$python" scripts/gen_contacts.py 1000000 -o "$base" 2> /dev/null
csv="$work/upload.csv"
"$python" - "$base" "$csv" "$size_mb" <<'PY'
import sys
base, out, target = sys.argv[1], sys.argv[2], int(sys.argv[3]) << 20
with open(base, "rb") as f:
    header = f.readline()
    body = f.read()
with open(out, "wb") as f:
    f.write(header)
    written = len(header)
    while written + len(body) <= target:
        f.write(body)
        written += len(body)
    cut = body.rfind(b"\n", 0, target - written) + 1
    f.write(body[:cut])
PY

. bench/importd.sh
: > "$work/runs"
for round in $(seq "$rounds"); do
    for mode in plain compress; do
        flag=(); [ "$mode" = compress ] && flag=(--compress)
        start_importd "$work" "$mode-$round" --import-interval 8760h
        start=$(date +%s.%N)
        /usr/bin/time -f "%M" -o "$work/client-rss" .build/release/importctl upload "$csv" "${flag[@]}" > "$work/answer" 2>&1
        end=$(date +%s.%N)
        server_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$IMPORTD_PID/status")
        # The rows importd counted (CSV records: a quoted field may hold a line break).
        rows=$(grep -o '[0-9,]* rows' "$work/answer" | head -1 | tr -d ', rows')
        echo "$mode $(echo "$end - $start" | bc) $server_kb $(tail -1 "$work/client-rss") $rows" >> "$work/runs"
        stop_importd
        rm -rf "$work/data.$mode-$round"
    done
done
# What --compress puts on the wire: each 256 KiB chunk gzip-compressed on its own.
"$python" - "$csv" "$work/runs" "$out/compression.json" <<'PY'
import gzip, json, statistics, sys
csv, runs_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
size, wire, rows = 0, 0, 0
with open(csv, "rb") as f:
    while chunk := f.read(262144):
        size += len(chunk)
        wire += len(gzip.compress(chunk, 6))
runs = {"plain": [], "compress": []}
for line in open(runs_file):
    mode, seconds, server_kb, client_kb, rows = line.split()
    rows = int(rows)
    runs[mode].append({"seconds": float(seconds), "server_peak_kb": int(server_kb), "client_peak_kb": int(client_kb)})
def summary(mode):
    entries = runs[mode]
    return {"runs": entries, "seconds": statistics.median(e["seconds"] for e in entries),
            "server_peak_kb": max(e["server_peak_kb"] for e in entries),
            "client_peak_kb": max(e["client_peak_kb"] for e in entries)}
json.dump({"rows": rows, "bytes": size, "wire_bytes_compressed": wire, "plain": summary("plain"), "compress": summary("compress")},
          open(out, "w"), indent=1)
print(open(out).read())
PY
