#!/usr/bin/env bash
# Installs what the build and tests need and is missing: Debian packages with
# apt-get, Python packages into a virtualenv at .build/venv.
#
#   scripts/install-deps.sh [--bench]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(pkg-config libnghttp2-dev libevent-dev libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev
          libssl-dev openssl nghttp2-client sqlite3 python3 python3-venv util-linux)
if [ "${1:-}" = "--bench" ]; then
    packages+=(libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler g++)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3 may come from elsewhere (pyenv); then Debian's python3 and venv are not needed.
if command -v python3 >/dev/null && python3 -c "import venv, ensurepip" 2>/dev/null; then
    filtered=()
    for p in "${missing[@]}"; do
        [[ "$p" == python3 || "$p" == python3-venv ]] || filtered+=("$p")
    done
    missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv=.build/venv
if [ ! -x "$venv/bin/python" ]; then
    mkdir -p .build
    python3 -m venv "$venv"
fi
if ! cmp -s requirements-test.txt "$venv/.requirements"; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-test.txt
    cp requirements-test.txt "$venv/.requirements"
fi
