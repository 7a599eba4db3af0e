"""Our CSV parser and Python's csv module read generated files the same:
same records, same fields, with comma, semicolon and tab delimiters."""
import csv
import json
import subprocess

import pytest

import generated
import servers


def ours(path):
    out = subprocess.run([servers.binary("importbench"), "--parse", path], capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def theirs(path, delimiter):
    with open(path, newline="", encoding="utf-8") as f:
        return [row for row in csv.reader(f, delimiter=delimiter)]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_same_records_as_python_csv(tmp_path, delimiter):
    source = str(tmp_path / "source.csv")
    generated.generate(20_000, source, seed=11)
    rows = theirs(source, ",")
    path = str(tmp_path / "file.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        # Python's writer quotes what needs quoting and ends rows with CRLF.
        csv.writer(f, delimiter=delimiter).writerows(rows)
    expected = [r for r in theirs(path, delimiter) if r]
    got = [r for r in ours(path) if r != [""]]
    assert len(got) == len(expected) == 20_001
    assert got == expected
    # The generator's own file (LF line ends, notes with quotes and newlines).
    assert [r for r in ours(source) if r != [""]] == [r for r in rows if r]
