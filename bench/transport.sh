#!/usr/bin/env bash
# Unary QPS with h2load: our server (rpctest: 1 and 2 event loops, and handlers on
# Swift's global executor instead of the loop) and the C++
# gRPC peer (Debian's libgrpc++, callback API) on the same proto, same load,
# alternating, several rounds; then importd itself: grpc.health.v1.Health/Check
# (against the peer's default health service) and the authenticated
# GetImportTemplate (against the peer answering the same template to the same
# bearer token). Medians to $1/transport.json.
set -euo pipefail
out=$1
root=$(pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The C++ peer, generated and compiled here (nothing of it is committed).
# google/protobuf/timestamp.proto comes from libprotobuf's own copy (/usr/include).
protoc -I /usr/include -I Protos --cpp_out="$work" --grpc_out="$work" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
    rpctest/v1/test_service.proto softrip/marketing/imports/v1/import_service.proto
imports="$work/softrip/marketing/imports/v1"
g++ -O2 -std=c++17 -I"$work" bench/cpp-peer/server.cc "$work"/rpctest/v1/test_service.pb.cc \
    "$work"/rpctest/v1/test_service.grpc.pb.cc "$imports"/import_service.pb.cc "$imports"/import_service.grpc.pb.cc \
    $(pkg-config --cflags --libs grpc++ protobuf) -o "$work/cpp-peer"

# One framed EchoRequest{message: "hello"} as h2load's request body.
printf '\x00\x00\x00\x00\x07\x0a\x05hello' > "$work/echo.frame"

start() {  # start NAME COMMAND... -> sets PORT_<NAME> and PID_<NAME>
    local name=$1; shift
    mkfifo "$work/$name.in"
    ("$@" < "$work/$name.in" > "$work/$name.out" 2>&1 & echo $! > "$work/$name.pid")
    exec {fd}>"$work/$name.in"
    eval "FD_$name=$fd"
    for _ in $(seq 100); do grep -q "listening on" "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
    eval "PORT_$name=$(sed -n 's/.*listening on .*:\([0-9]*\).*/\1/p' "$work/$name.out")"
    eval "PID_$name=$(cat "$work/$name.pid")"
}
start swift1 .build/release/rpctest --loops 1
start swift2 .build/release/rpctest --loops 2
start global1 .build/release/rpctest --loops 1 --placement global
# importd on embedded SQLite, and importd's GetImportTemplate answer (a gRPC
# frame) for the peer to give.
. bench/importd.sh
start_importd "$work" importd --import-interval 8760h
PORT_importd=${IMPORTCTL_SERVER##*:}
PID_importd=$IMPORTD_PID
printf '\x00\x00\x00\x00\x00' > "$work/empty.frame"
grpc_call() {  # grpc_call PORT PATH OUT [header...] -> the response body in OUT; fails unless grpc-status is 0
    local port=$1 path=$2 body=$3; shift 3
    curl -s --http2-prior-knowledge -D "$work/headers" -o "$body" --data-binary @"$work/empty.frame" \
        -H 'content-type: application/grpc' -H 'te: trailers' "$@" "http://127.0.0.1:$port$path"
    grep -qi '^grpc-status: 0' "$work/headers" || { echo "$path on port $port failed:"; cat "$work/headers"; exit 1; }
}
template=/softrip.marketing.imports.v1.ImportService/GetImportTemplate
health=/grpc.health.v1.Health/Check
grpc_call "$PORT_importd" "$template" "$work/template.frame" -H "authorization: Bearer $IMPORTCTL_TOKEN"
start cpp "$work/cpp-peer" 0 "$work/template.frame" "$IMPORTCTL_TOKEN"
for port in "$PORT_importd" "$PORT_cpp"; do  # both answer both, with the same bytes for the template
    grpc_call "$port" "$health" "$work/health.$port"
    grpc_call "$port" "$template" "$work/template.$port" -H "authorization: Bearer $IMPORTCTL_TOKEN"
done
cmp -s "$work/template.$PORT_importd" "$work/template.$PORT_cpp" || { echo "the peer's template differs from importd's"; exit 1; }

requests=${BENCH_REQUESTS:-200000}
rounds=${BENCH_ROUNDS:-5}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {  # run NAME [PATH FRAME header...] -> "req/s errors server-CPU-microseconds-per-request"
    local name=$1 path=${2:-/rpctest.v1.TestService/Echo} frame=${3:-$work/echo.frame}
    local port_var="PORT_$1" pid_var="PID_$1"
    shift $(( $# < 3 ? $# : 3 ))
    local before; before=$(cpu_ticks "${!pid_var}")
    h2load -n "$requests" -c 8 -m 32 -t 1 -d "$frame" -H 'content-type: application/grpc' \
        -H 'te: trailers' "$@" "http://127.0.0.1:${!port_var}$path" 2>&1 |
        awk '/finished in/ {rps=$4} /^requests:/ {failed=$10+$12} END {print rps, failed+0}' > "$work/run"
    local after; after=$(cpu_ticks "${!pid_var}")
    echo "$(cat "$work/run") $(echo "($after - $before) * 1000000 / $(getconf CLK_TCK) / $requests" | bc -l)"
}
results="$work/results.txt"
: > "$results"
for round in $(seq "$rounds"); do
    for name in cpp swift1 swift2 global1; do
        read -r rps errors cpu < <(run "$name")
        echo "$name $rps $errors $cpu" >> "$results"
        echo "round $round $name: $rps req/s, $errors errors, $cpu us of server CPU a call"
    done
    for name in cpp importd; do
        read -r rps errors cpu < <(run "$name" "$health" "$work/empty.frame")
        echo "health_$name $rps $errors $cpu" >> "$results"
        read -r rps errors cpu < <(run "$name" "$template" "$work/empty.frame" -H "authorization: Bearer $IMPORTCTL_TOKEN")
        echo "template_$name $rps $errors $cpu" >> "$results"
        echo "round $round $name: health and template"
    done
done
# Memory after every round: a server that keeps anything per call grows with
# the calls (importd served 2 x rounds x requests, the rpctest servers
# rounds x requests each). Current and peak RSS in KiB.
memory="$work/memory.txt"
for name in swift2 importd cpp; do
    pid_var="PID_$name"
    echo "$name $(awk '/^VmRSS:/ {rss=$2} /^VmHWM:/ {hwm=$2} END {print rss, hwm}' "/proc/${!pid_var}/status")" >> "$memory"
done
.build/venv/bin/python - "$results" "$out/transport.json" "$requests" "$rounds" "$memory" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
memory = {name: {"rss_kib": int(rss), "peak_kib": int(hwm)} for name, rss, hwm in (l.split() for l in open(sys.argv[5]))}
for name, rps, errors, cpu in rows:
    by.setdefault(name, []).append((float(rps), int(errors), float(cpu)))
summary = {name: {"median_rps": statistics.median(r for r, _, _ in v), "runs": [r for r, _, _ in v],
                  "errors": sum(e for _, e, _ in v), "cpu_us_per_call": statistics.median(c for _, _, c in v)}
           for name, v in by.items()}
summary["requests"] = int(sys.argv[3])
summary["rounds"] = int(sys.argv[4])
summary["memory"] = memory
json.dump(summary, open(sys.argv[2], "w"), indent=2)
PY
