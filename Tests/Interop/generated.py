"""Test files from the project's seeded contacts generator (scripts/gen_contacts.py)."""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GENERATOR = os.path.join(ROOT, "scripts", "gen_contacts.py")


def generate(rows, path, seed=42, *options):
    """Writes `rows` generated contacts to `path`; returns the generator's counts
    (rows, bad_email, missing_last, bad_date, dup_email, clean)."""
    result = subprocess.run([sys.executable, GENERATOR, str(rows), "--seed", str(seed), "-o", path] + list(options),
                            capture_output=True, text=True, check=True)
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", result.stderr)}
