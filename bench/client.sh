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

. bench/importd.sh
start_importd "$work" bench --import-interval 24h
PYTHONPATH=clients/python/src "$python" bench/client_upload.py "$size" > "$out/client.json"
cat "$out/client.json"
