#!/usr/bin/env bash
# Installs what is missing, and says what and why.
#
#   scripts/install-deps.sh           to build and run importd and importctl: Debian's -dev
#                                     packages of the C libraries it is built on (apt-get)
#   scripts/install-deps.sh --test    also what the tests use: nghttp2's h2load/nghttp, the
#                                     sqlite3 CLI, and a Python virtualenv at .build/venv with
#                                     grpcio, protobuf and pytest (requirements-test.txt)
#   scripts/install-deps.sh --bench   also the benchmarks' peers (C++ gRPC), on top of --test
#
# Every Python the build and the tests run is .build/venv/bin/python, never the
# machine's own python3 (which only creates the virtualenv).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
packages=(pkg-config libnghttp2-dev libevent-dev libprotobuf-c-dev libsqlite3-dev libssl-dev zlib1g-dev libpq-dev)
why="to build importd (nghttp2, libevent, protobuf-c, SQLite, libpq, OpenSSL, zlib)"
if [ "$mode" = "--test" ] || [ "$mode" = "--bench" ]; then
    packages+=(protobuf-c-compiler grpc-proto openssl nghttp2-client sqlite3 python3 python3-venv util-linux git chromium chromium-driver curl postgresql-15)
    why="$why and to test it (protoc-c, h2load, sqlite3, Python's venv, chromium for the web console, curl, a PostgreSQL 15 server for the PostgreSQL tests)"
fi
if [ "$mode" = "--bench" ]; then
    packages+=(libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler g++ hyperfine)
    why="$why and the benchmarks' C++ gRPC peer"
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3 may come from elsewhere (pyenv); then Debian's python3 and venv are not needed.
if command -v python3 >/dev/null && python3 -c "import venv, ensurepip" 2>/dev/null; then
    filtered=()
    for p in "${missing[@]+"${missing[@]}"}"; do
        [[ "$p" == python3 || "$p" == python3-venv ]] || filtered+=("$p")
    done
    missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing with apt-get, $why: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ "$mode" = "run" ] && exit 0

venv=.build/venv
if [ ! -x "$venv/bin/python" ]; then
    echo "creating the tests' Python virtualenv at $venv"
    mkdir -p .build
    python3 -m venv "$venv"
fi
if ! cmp -s requirements-test.txt "$venv/.requirements"; then
    echo "installing the tests' Python packages into $venv (requirements-test.txt)"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-test.txt
    cp requirements-test.txt "$venv/.requirements"
fi
