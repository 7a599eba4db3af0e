#!/usr/bin/env bash
# Streaming side by side: grpc.testing.BenchmarkService (gRPC's own
# benchmark_service.proto from Debian's grpc-proto) served by our interop-server
# and by a C++ peer built here from the same proto (Debian's libgrpc++,
# callback API), driven by the same client (bench/streambench), alternating,
# several rounds:
#   - server streaming: StreamingFromServer on 4 streams, 16-byte responses,
#     messages/s;
#   - client streaming: StreamingFromClient of 1 GiB in 64 KiB requests, MB/s,
#     the server's CPU seconds for it and its peak RSS (each round on freshly
#     started servers).
# Results to $1/streaming.json.
set -euo pipefail
out=$1
rounds=${BENCH_ROUNDS:-3}
python=.build/venv/bin/python
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The C++ peer, generated and compiled here (nothing of it is committed).
protos=/usr/share/grpc-proto
protoc -I "$protos" --cpp_out="$work" --grpc_out="$work" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
    grpc/testing/benchmark_service.proto grpc/testing/messages.proto
g++ -O2 -std=c++17 -I"$work" bench/cpp-peer/benchmark_server.cc "$work"/grpc/testing/benchmark_service.pb.cc \
    "$work"/grpc/testing/benchmark_service.grpc.pb.cc "$work"/grpc/testing/messages.pb.cc \
    "$work"/grpc/testing/messages.grpc.pb.cc $(pkg-config --cflags --libs grpc++ protobuf) -o "$work/cpp-peer"

serve() {  # serve NAME COMMAND... -> PORT and PID of a server that stops when its stdin closes
    local name=$1; shift
    rm -f "$work/$name.in"; mkfifo "$work/$name.in"
    ("$@" < "$work/$name.in" > "$work/$name.out" 2>&1 & echo $! > "$work/$name.pid")
    exec {SERVE_FD}>"$work/$name.in"
    for _ in $(seq 100); do grep -q "listening on" "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
    PORT=$(sed -n 's/.*listening on .*:\([0-9]*\).*/\1/p' "$work/$name.out" | head -1)
    PID=$(cat "$work/$name.pid")
}
stop() {  # stop PID
    exec {SERVE_FD}>&-
    kill "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
}
ours=(.build/release/interop-server --port 0)
peer=("$work/cpp-peer" 0)

: > "$work/results"
for round in $(seq "$rounds"); do
    for name in ours peer; do
        declare -n command=$name
        serve "$name" "${command[@]}"
        echo "server $name $(.build/release/streambench --server "127.0.0.1:$PORT" --mode server --streams 4 --seconds 4 --size 16)" >> "$work/results"
        stop "$PID"
        serve "$name" "${command[@]}"
        ticks=$(awk '{print $14 + $15}' "/proc/$PID/stat")
        result=$(.build/release/streambench --server "127.0.0.1:$PORT" --mode client --megabytes 1024 --message 65536)
        ticks=$(( $(awk '{print $14 + $15}' "/proc/$PID/stat") - ticks ))
        echo "client $name $(awk '/^VmHWM:/ {print $2}' "/proc/$PID/status") $ticks $result" >> "$work/results"
        stop "$PID"
        tail -2 "$work/results"
    done
done
"$python" - "$work/results" "$out/streaming.json" <<'PY'
import json, os, statistics, sys
runs = {"server": {"ours": [], "peer": []}, "client": {"ours": [], "peer": []}}
for line in open(sys.argv[1]):
    mode, name, rest = line.split(" ", 2)
    if mode == "server":
        runs["server"][name].append(json.loads(rest)["messages_per_second"])
    else:
        rss, ticks, result = rest.split(" ", 2)
        result = json.loads(result)
        hz = os.sysconf("SC_CLK_TCK")
        runs["client"][name].append({"megabytes_per_second": result["megabytes_per_second"], "peak_rss_kb": int(rss),
                                     "server_cpu_seconds_per_gib": int(ticks) / hz / (result["bytes"] / 2**30),
                                     "bytes": result["bytes"], "message_size": result["message_size"]})
summary = {
    "server": {name: {"runs": values, "median": statistics.median(values)} for name, values in runs["server"].items()},
    "client": {name: {"runs": values, "median": statistics.median(v["megabytes_per_second"] for v in values),
                      "peak_rss_kb": max(v["peak_rss_kb"] for v in values),
                      "server_cpu_seconds_per_gib": statistics.median(v["server_cpu_seconds_per_gib"] for v in values)}
               for name, values in runs["client"].items()},
}
json.dump(summary, open(sys.argv[2], "w"), indent=1)
print(open(sys.argv[2]).read())
PY
