#!/usr/bin/env bash
# Unary QPS with h2load: our server (rpctest: 1 and 2 event loops, and handlers on
# Swift's global executor instead of the loop) and the C++
# gRPC peer (Debian's libgrpc++, callback API) on the same proto, same load,
# alternating, several rounds; medians to $1/transport.json.
set -euo pipefail
out=$1
root=$(pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The C++ peer, generated and compiled here (nothing of it is committed).
protoc -I Protos --cpp_out="$work" --grpc_out="$work" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
    rpctest/v1/test_service.proto
g++ -O2 -std=c++17 -I"$work" bench/cpp-peer/server.cc "$work"/rpctest/v1/test_service.pb.cc \
    "$work"/rpctest/v1/test_service.grpc.pb.cc $(pkg-config --cflags --libs grpc++ protobuf) -o "$work/cpp-peer"

# One framed EchoRequest{message: "hello"} as h2load's request body.
printf '\x00\x00\x00\x00\x07\x0a\x05hello' > "$work/echo.frame"

start() {  # start NAME COMMAND... -> sets PORT_<NAME>
    local name=$1; shift
    mkfifo "$work/$name.in"
    ("$@" < "$work/$name.in" > "$work/$name.out" 2>&1 &)
    exec {fd}>"$work/$name.in"
    eval "FD_$name=$fd"
    for _ in $(seq 100); do grep -q "listening on" "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
    eval "PORT_$name=$(sed -n 's/.*listening on .*:\([0-9]*\).*/\1/p' "$work/$name.out")"
}
start swift1 .build/release/rpctest --loops 1
start swift2 .build/release/rpctest --loops 2
start global1 .build/release/rpctest --loops 1 --placement global
start cpp "$work/cpp-peer" 0

requests=${BENCH_REQUESTS:-200000}
rounds=${BENCH_ROUNDS:-5}
run() {  # run PORT -> "req/s errors"
    h2load -n "$requests" -c 8 -m 32 -t 1 -d "$work/echo.frame" -H 'content-type: application/grpc' \
        -H 'te: trailers' "http://127.0.0.1:$1/rpctest.v1.TestService/Echo" 2>&1 |
        awk '/finished in/ {rps=$4} /^requests:/ {failed=$10+$12} END {print rps, failed+0}'
}
results="$work/results.txt"
: > "$results"
for round in $(seq "$rounds"); do
    for name in cpp swift1 swift2 global1; do
        port_var="PORT_$name"
        read -r rps errors < <(run "${!port_var}")
        echo "$name $rps $errors" >> "$results"
        echo "round $round $name: $rps req/s, $errors errors"
    done
done
.build/venv/bin/python - "$results" "$out/transport.json" "$requests" "$rounds" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for name, rps, errors in rows:
    by.setdefault(name, []).append((float(rps), int(errors)))
summary = {name: {"median_rps": statistics.median(r for r, _ in v), "runs": [r for r, _ in v],
                  "errors": sum(e for _, e in v)} for name, v in by.items()}
summary["requests"] = int(sys.argv[3])
summary["rounds"] = int(sys.argv[4])
json.dump(summary, open(sys.argv[2], "w"), indent=2)
PY
