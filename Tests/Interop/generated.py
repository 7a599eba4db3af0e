"""Test files from the shared, seeded contacts generator (shared/bench/gen_contacts.py)."""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GENERATOR = os.path.join(ROOT, "..", "shared", "bench", "gen_contacts.py")


def generate(rows, path, seed=42):
    """Writes `rows` generated contacts to `path`; returns the generator's counts
    (rows, bad_email, missing_last, bad_date, dup_email, clean)."""
    if not os.path.exists(GENERATOR):
        raise RuntimeError("the contacts generator is missing: %s" % GENERATOR)
    result = subprocess.run([sys.executable, GENERATOR, str(rows), "--seed", str(seed), "-o", path],
                            capture_output=True, text=True, check=True)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", result.stderr)}
