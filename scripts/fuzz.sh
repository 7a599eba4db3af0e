#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz) with the address sanitizer and runs
# each for FUZZ_SECONDS (default 60), two at a time, starting from the committed
# seed corpus (Tests/Fuzz/corpus/NAME; new inputs go to .build-fuzz/corpus/NAME).
# A crash leaves its input in .build-fuzz/crashes/ and fails the run: add it to
# the corpus and as a regression test when fixed.
#
#   scripts/fuzz.sh [FuzzCSV FuzzMessages FuzzHTTP2]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(FuzzCSV FuzzMessages FuzzHTTP2)
flags=(-c release --scratch-path .build-fuzz --sanitize=fuzzer --sanitize=address
       -Xswiftc -sanitize-coverage=edge,trace-cmp,pc-table,inline-8bit-counters -Xcc -fsanitize=fuzzer-no-link)
for target in "${targets[@]}"; do
    IMPORTD_FUZZ=1 swift build "${flags[@]}" --product "$target"
done
mkdir -p .build-fuzz/crashes
run() {
    local target=$1 name
    name=$(echo "${target#Fuzz}" | tr '[:upper:]' '[:lower:]')
    mkdir -p ".build-fuzz/corpus/$name"
    ".build-fuzz/release/$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix=".build-fuzz/crashes/$target-" -print_final_stats=1 \
        ".build-fuzz/corpus/$name" "Tests/Fuzz/corpus/$name" > ".build-fuzz/$target.log" 2>&1
}
status=0
pids=()
for target in "${targets[@]}"; do
    run "$target" &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then
        wait "${pids[0]}" || status=1
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for target in "${targets[@]}"; do
    echo "$target: $(grep -E '^stat::number_of_executed_units' ".build-fuzz/$target.log" | awk '{print $2}') executions," \
         "$(grep -Eo 'cov: [0-9]+' ".build-fuzz/$target.log" | tail -1), corpus $(ls ".build-fuzz/corpus/$(echo "${target#Fuzz}" | tr '[:upper:]' '[:lower:]')" | wc -l) inputs"
done
if [ $status -ne 0 ] || ls .build-fuzz/crashes/* >/dev/null 2>&1; then
    echo "a fuzz target crashed: see .build-fuzz/crashes/ and .build-fuzz/*.log" >&2
    exit 1
fi
