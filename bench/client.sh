#!/usr/bin/env bash
# The Python client's streaming upload: 1 GiB of generated rows sent with
# ImportClient.upload from a generator, over loopback; the client's peak RSS
# growth and the time, to $1/client.json.
set -euo pipefail
out=$1
size=${BENCH_CLIENT_BYTES:-1073741824}
python=.build/venv/bin/python
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

mkfifo "$work/in"
(.build/release/importd --listen 127.0.0.1:0 --data-dir "$work/data" --import-interval 24h --log-level warning \
    < "$work/in" > "$work/importd.log" 2>&1 &)
exec {fd}>"$work/in"
for _ in $(seq 100); do [ -s "$work/data/admin.token" ] && grep -q "listening on" "$work/importd.log" && break; sleep 0.1; done
export IMPORTCTL_SERVER=127.0.0.1:$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/importd.log" | head -1)
export IMPORTCTL_TOKEN=$(cat "$work/data/admin.token")
PYTHONPATH=clients/python/src "$python" bench/client_upload.py "$size" > "$out/client.json"
cat "$out/client.json"
