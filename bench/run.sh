#!/usr/bin/env bash
# Benchmarks, each against its peer measured in the same run; results go to
# BENCHMARKS.md (between the markers of each section) and bench-out/.
#
#   bench/run.sh [transport] [engine] [watchers] [compression] [client]   (default: all)
#
# Everything runs on 127.0.0.1 on ports the OS picks.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench-out
mkdir -p "$out"
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(transport engine watchers compression client)
for section in "${sections[@]}"; do
    bench/"$section".sh "$out"
done
.build/venv/bin/python bench/report.py "$out" BENCHMARKS.md
