"""Uploads SIZE bytes of generated rows with importd_client from a generator
(nothing is ever held whole) to IMPORTCTL_SERVER with IMPORTCTL_TOKEN, cancels the
import, and prints JSON: bytes stored, rows, seconds, and the client's peak RSS
growth in KiB. Used by bench/client.sh (1 GiB) and the Python client's tests.

    client_upload.py SIZE
"""
import json
import os
import resource
import sys
import time

from importd_client import ImportClient

size = int(sys.argv[1])


def rows():
    yield b"email,first_name,last_name\n"
    sent, i = 0, 0
    while sent < size:
        block = b"".join(b"%d@example.com,Ana,Silva\n" % (i + n) for n in range(10000))
        i += 10000
        sent += len(block)
        yield block


with ImportClient(os.environ["IMPORTCTL_SERVER"], token=os.environ["IMPORTCTL_TOKEN"]) as client:
    list(client.campaigns())  # connected, and the library's imports done
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    job = client.upload(rows(), file_name="big.csv")
    seconds = time.monotonic() - start
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    client.cancel(job.id)
print(json.dumps({"bytes": job.bytes, "rows": job.total_rows, "seconds": seconds, "rss_growth_kb": growth}))
