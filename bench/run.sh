#!/usr/bin/env bash
# Benchmarks, each against its peer measured in the same run; results go to
# BENCHMARKS.md (between the markers of each section) and bench-out/.
#
#   bench/run.sh [transport] [streaming] [engine] [watchers] [compression] [client] [postgres]   (default: all)
#
# Everything runs on 127.0.0.1 on ports the OS picks.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench-out
mkdir -p "$out"
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(transport streaming engine watchers compression client postgres)
for section in "${sections[@]}"; do
    if [ "$section" = postgres ]; then
        .build/venv/bin/python bench/postgres.py "$out"
    else
        bench/"$section".sh "$out"
    fi
done
.build/venv/bin/python bench/report.py "$out" BENCHMARKS.md
