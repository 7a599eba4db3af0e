#!/usr/bin/env bash
# The import engine on 1M generated contacts (scripts/gen_contacts.py)
# against sqlite3's own .import of the same file into a table with a unique
# case-insensitive email index (bench/sqlite_import_schema.sql), alternating,
# several rounds; medians to $1/engine.json.
set -euo pipefail
out=$1
rows=${BENCH_ENGINE_ROWS:-1000000}
rounds=${BENCH_ROUNDS:-3}
python=.build/venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cache=bench-out/contacts-$rows.csv
if [ ! -s "$cache" ]; then
    echo "generating $rows contacts"
    "$python" scripts/gen_contacts.py "$rows" -o "$cache" 2> "$work/gen.txt"
fi

results="$work/results.txt"
: > "$results"
sqlite3_import() {  # sqlite3_import NAME FILE -> a "NAME seconds" line: the peer on a fresh database
    rm -f "$work"/ref.db*
    sqlite3 "$work/ref.db" < bench/sqlite_import_schema.sql
    local start end
    start=$(date +%s.%N)
    sqlite3 "$work/ref.db" -cmd ".mode csv" ".import --skip 1 $2 contacts" 2>/dev/null || true
    end=$(date +%s.%N)
    echo "$1 $(echo "$end - $start" | bc)" >> "$results"
    rm -f "$work"/ref.db*
}
for round in $(seq "$rounds"); do
    sqlite3_import sqlite3_import "$cache"
    .build/release/importbench "$cache" | tail -1 > "$work/engine.json"
    "$python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("engine", d["import_seconds"]); print("upload", d["upload_seconds"]); print("rss", d["peak_rss_mb"]); print("written", d["written_mb"])' "$work/engine.json" >> "$results"
    echo "round $round: sqlite3 $(grep sqlite3_import "$results" | tail -1 | cut -d' ' -f2) s, engine $(grep '^engine' "$results" | tail -1 | cut -d' ' -f2) s"
done

# Memory at every size, and cost against the database's size (one run each):
# the 5M-row file into an empty database (and sqlite3 .import of it), then 1M
# other contacts (another seed) into an empty database and into the one that
# holds the 5M contacts.
big_rows=${BENCH_ENGINE_BIG_ROWS:-5000000}
big=bench-out/contacts-$big_rows.csv
other=bench-out/contacts-$rows-s7.csv
[ -s "$big" ] || "$python" scripts/gen_contacts.py "$big_rows" -o "$big" 2> "$work/gen.txt"
[ -s "$other" ] || "$python" scripts/gen_contacts.py "$rows" --seed 7 -o "$other" 2> "$work/gen.txt"
sqlite3_import big_sqlite3 "$big"
figures() {  # figures PREFIX JSON -> PREFIX_seconds, PREFIX_rss, PREFIX_written lines
    "$python" -c 'import json,sys; d=json.load(open(sys.argv[2])); p=sys.argv[1]
print(p + "_seconds", d["import_seconds"]); print(p + "_upload", d["upload_seconds"]); print(p + "_rss", d["peak_rss_mb"]); print(p + "_written", d["written_mb"])' "$1" "$2" >> "$results"
}
.build/release/importbench "$big" --data-dir "$work/full" | tail -1 > "$work/big.json"
figures big "$work/big.json"
# Alternating rounds (single runs spread by 20% on a shared host): each into
# a new empty database and into a copy of the 5M one, synced first so that
# the copy's writes are not the run's.
for round in $(seq "$rounds"); do
    rm -rf "$work/empty" "$work/fullrun"
    .build/release/importbench "$other" --data-dir "$work/empty" | tail -1 > "$work/fresh.json"
    figures fresh "$work/fresh.json"
    cp -a "$work/full" "$work/fullrun" && sync
    .build/release/importbench "$other" --data-dir "$work/fullrun" | tail -1 > "$work/full.json"
    figures full "$work/full.json"
done
rm -rf "$work/empty" "$work/fullrun"
echo "5M rows: $(grep '^big_seconds' "$results" | cut -d' ' -f2) s, peak RSS $(grep '^big_rss' "$results" | cut -d' ' -f2) MiB;" \
    "1M into empty $(grep '^fresh_seconds' "$results" | cut -d' ' -f2 | tr '\n' ' ')s, into 5M $(grep '^full_seconds' "$results" | cut -d' ' -f2 | tr '\n' ' ')s"

"$python" - "$results" "$out/engine.json" "$rows" "$cache" "$big_rows" <<'PY'
import json, os, statistics, sys
values = {}
for line in open(sys.argv[1]):
    key, value = line.split()
    values.setdefault(key, []).append(float(value))
median = {k: statistics.median(v) for k, v in values.items()}
data = {
    "rows": int(sys.argv[3]), "bytes": os.path.getsize(sys.argv[4]),
    "sqlite3_import": {"seconds": median["sqlite3_import"], "runs": values["sqlite3_import"]},
    "engine": {"seconds": median["engine"], "runs": values["engine"]},
    "upload": {"seconds": median["upload"], "runs": values["upload"]},
    "peak_rss_mb": max(values["rss"]), "written_mb": median["written"],
    "order": [["sqlite3_import", "sqlite3 .import (15 TEXT columns, unique lower(email) index)"],
              ["engine", "importd engine: parse, validate, dedup, contacts, per-row results, keys"],
              ["upload", "importd upload: hash, spool to disk with fsync, count rows"]],
    "big": {"rows": int(sys.argv[5]), "sqlite3_import": median["big_sqlite3"], "seconds": median["big_seconds"],
            "peak_rss_mb": median["big_rss"], "written_mb": median["big_written"]},
    "growth": {"empty": {"seconds": median["fresh_seconds"], "upload_seconds": median["fresh_upload"], "written_mb": median["fresh_written"],
                         "runs": values["fresh_seconds"]},
               "full": {"seconds": median["full_seconds"], "upload_seconds": median["full_upload"], "written_mb": median["full_written"],
                        "runs": values["full_seconds"]}},
}
json.dump(data, open(sys.argv[2], "w"), indent=2)
PY
