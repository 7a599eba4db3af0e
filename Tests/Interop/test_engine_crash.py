"""The import engine killed with SIGKILL at random points, then restarted:
counts must be exact and no contact may exist twice."""
import json
import os
import random
import signal
import sqlite3
import subprocess
import time

import pytest

import generated
import servers
from created_rows import created_row_numbers


def importbench(*args):
    return [servers.binary("importbench")] + list(args)


def start(args):
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def resume(data_dir):
    result = subprocess.run(importbench("--resume", "--data-dir", data_dir, "--batch-rows", "1000"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def kill_after(proc, seconds):
    time.sleep(seconds)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode == -signal.SIGKILL


def test_kill_during_upload_leaves_nothing(tmp_path):
    csv = str(tmp_path / "contacts.csv")
    generated.generate(100_000, csv)
    data = str(tmp_path / "data")
    proc = start(importbench(csv, "--data-dir", data, "--batch-rows", "1000"))
    assert kill_after(proc, 0.03), "the upload finished before the kill; use a bigger file"
    summary = resume(data)
    assert summary == {"imports": 0}
    assert os.listdir(os.path.join(data, "spool")) == []


def test_random_kills_then_exact_counts(tmp_path):
    csv = str(tmp_path / "contacts.csv")
    counts = generated.generate(150_000, csv, seed=7)
    data = str(tmp_path / "data")
    rng = random.Random(1234)
    proc = start(importbench(csv, "--data-dir", data, "--batch-rows", "1000"))
    assert proc.stdout.readline().strip() == "uploaded"
    kills = int(kill_after(proc, rng.uniform(0.05, 0.4)))
    for _ in range(4):
        proc = start(importbench("--resume", "--data-dir", data, "--batch-rows", "1000"))
        kills += int(kill_after(proc, rng.uniform(0.1, 0.5)))
    assert kills >= 3, "most runs should have been killed mid-import"
    summary = resume(data)
    assert summary["state"] == "COMPLETED"
    assert summary["processed"] == summary["rows"] == counts["rows"]
    assert summary["created"] == counts["clean"]
    assert summary["failed"] == counts["rows"] - counts["clean"]

    db = sqlite3.connect(os.path.join(data, "importd.sqlite"))
    contacts = db.execute("SELECT count(*) FROM contacts").fetchone()[0]
    assert contacts == counts["clean"]
    emails = [row[0].lower() for row in db.execute("SELECT email FROM contacts WHERE email IS NOT NULL")]
    assert len(emails) == len(set(emails)), "a contact exists twice"
    assert db.execute("SELECT count(*) FROM contact_keys WHERE kind = 1").fetchone()[0] == len(emails)
    # Created rows are packed in blocks, every other row is in import_rows:
    # together, each row exactly once.
    created = [row for (data,) in db.execute("SELECT data FROM import_created_rows") for row in created_row_numbers(data)]
    assert len(created) == counts["clean"]
    outcomes = dict(db.execute("SELECT outcome, count(*) FROM import_rows GROUP BY outcome").fetchall())
    assert outcomes == {4: counts["rows"] - counts["clean"]}
    others = [row for (row,) in db.execute("SELECT row_number FROM import_rows")]
    assert sorted(created + others) == list(range(1, counts["rows"] + 1))
    codes = dict(db.execute("SELECT code, count(DISTINCT row_number) FROM import_row_errors GROUP BY code").fetchall())
    assert codes == {"INVALID_EMAIL": counts["bad_email"], "MISSING_REQUIRED": counts["missing_last"],
                     "INVALID_DATE": counts["bad_date"], "DUPLICATE_IN_FILE": counts["dup_email"]}
