#!/usr/bin/env bash
# Proves the repository stands alone: clones HEAD into an empty temporary
# directory (nothing beside it: no sibling directories) and runs `make test` there with a
# PATH whose python3 is a bare virtualenv (no packages beyond pip), so every
# Python the build and the tests use must come from the project's own
# virtualenv. The clone is removed afterwards.
#
#   scripts/fresh-clone-check.sh [make target, default: test]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-test}
work=$(mktemp -d /tmp/importd-fresh-XXXXXX)
trap 'rm -rf "$work"' EXIT
git clone -q . "$work/importd"
python3 -m venv "$work/bare-python"
if "$work/bare-python/bin/python3" -c "import google.protobuf" 2>/dev/null; then
    echo "the bare python3 has protobuf: the check would prove nothing" >&2
    exit 1
fi
echo "fresh clone at $work/importd (nothing beside it); python3 is $work/bare-python/bin/python3 (no packages)"
cd "$work/importd"
PATH="$work/bare-python/bin:$PATH" make "$target"
echo "fresh clone check passed: make $target in an empty directory with a bare python3"
