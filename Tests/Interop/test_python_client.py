"""The Python client package (clients/python) as a service would use it:
installed with pip into a fresh virtualenv and run from outside the
repository, sync and asyncio; and, from the source tree, its streaming
upload's memory, its errors, its pages and its reconnecting watch."""
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import generated
import importd_client
from importd_client import AsyncImportClient, ImportClient, pb

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PACKAGE = os.path.join(ROOT, "clients", "python")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtualenv with the package pip-installed from the repository:
    its python, and a working directory outside the repository."""
    where = tmp_path_factory.mktemp("fresh")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    # A copy: building writes build/ and *.egg-info next to the sources.
    source = where / "importd-client"
    shutil.copytree(PACKAGE, source)
    result = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    work = where / "work"
    work.mkdir()
    return python, work


SCRIPT = """
import asyncio, os, sys
from importd_client import AsyncImportClient, ImportClient, NotFound, pb

server, token = os.environ["IMPORTCTL_SERVER"], os.environ["IMPORTCTL_TOKEN"]
assert "clients/python" not in __import__("importd_client").__file__, "imported from the repository"

with ImportClient(server, token=token) as client:
    job = client.upload("contacts.csv", validate_only=True)
    states = [update.state for update in client.watch(job.id)]
    assert states[-1] == pb.IMPORT_STATE_COMPLETED, states
    failed = list(client.rows(job.id, outcome="failed", page_size=7))
    try:
        client.get("imp_999999")
        raise SystemExit("no NotFound")
    except NotFound as error:
        not_found = error.details
    print("sync", job.id, len(failed), not_found)

async def main():
    async with AsyncImportClient(server, token=token) as client:
        job = await client.upload(open("contacts.csv", "rb"), validate_only=True)
        last = None
        async for last in client.watch(job.id):
            pass
        assert last.state == pb.IMPORT_STATE_COMPLETED, last
        failed = [row async for row in client.rows(job.id, outcome="failed", page_size=7)]
        try:
            await client.get("imp_999999")
            raise SystemExit("no NotFound")
        except NotFound:
            pass
        print("async", job.id, len(failed))

asyncio.run(main())
"""


def run_outside(installed, server, script, csv_rows=300):
    python, work = installed
    counts = generated.generate(csv_rows, str(work / "contacts.csv"), 5)
    (work / "script.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(IMPORTCTL_SERVER=server.address, IMPORTCTL_TOKEN=server.token)
    result = subprocess.run([python, "script.py"], cwd=str(work), capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, counts


def test_installed_package_uploads_watches_pages_and_raises_outside_the_repository(installed, importd):
    out, counts = run_outside(installed, importd, SCRIPT)
    failed = counts["rows"] - counts["clean"]
    sync_line, async_line = out.strip().splitlines()
    assert re.fullmatch(r"sync imp_\d+ %d import imp_999999 does not exist" % failed, sync_line), sync_line
    assert re.fullmatch(r"async imp_\d+ %d" % failed, async_line), async_line


def test_readme_example_runs_as_written(installed, importd):
    readme = open(os.path.join(PACKAGE, "README.md")).read()
    example = re.search(r"## Example.*?```python\n(.*?)```", readme, re.S).group(1)
    out, counts = run_outside(installed, importd, example, csv_rows=300)
    lines = out.strip().splitlines()
    failed = counts["rows"] - counts["clean"]
    assert failed > 0
    assert re.fullmatch(r"imp_\d+ IMPORT_STATE_COMPLETED 300 / 300", lines[-2 - failed]), out
    assert lines[-1 - failed].startswith("{'"), out  # the summary by error code, then each failed row
    assert sum(1 for line in lines if re.match(r"\d+ \['[A-Z_]+'", line)) == failed


def test_the_package_carries_no_test_protos_and_the_stubs_are_the_generated_ones():
    files = sorted(os.listdir(os.path.join(PACKAGE, "src", "importd_client")))
    assert not [f for f in files if "test" in f or "rpctest" in f]
    assert "import_service_pb2.py" in files and "py.typed" in files


def upload_memory(server, size):
    """Uploads `size` bytes from a generator in a fresh process: (bytes stored, peak RSS growth in KiB)."""
    env = dict(os.environ, IMPORTCTL_SERVER=server.address, IMPORTCTL_TOKEN=server.token,
               PYTHONPATH=os.path.join(PACKAGE, "src"))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "client_upload.py"), str(size)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    return measured["bytes"], measured["rss_growth_kb"]


def test_a_big_upload_streams_in_bounded_memory(importd):
    """64 MiB from a generator: the client's peak RSS grows by far less than the file."""
    stored, growth_kb = upload_memory(importd, 64 << 20)
    assert stored >= 64 << 20
    assert growth_kb < 32 * 1024, "the client's RSS grew by %d KiB for a 64 MiB upload" % growth_kb


def test_errors_are_typed_with_violations(fresh_importd):
    importd = fresh_importd("--import-interval", "8760h")  # the upload below stays QUEUED until cancelled
    with ImportClient(importd.address, token=importd.token) as client:
        with pytest.raises(importd_client.InvalidArgument) as refused:
            client.upload(b"Loyalty Tier,email\nGold,a@b.co\n", file_name="tiers.csv")
        assert any("Loyalty Tier" in field or "Loyalty Tier" in description for field, description in refused.value.violations)
        with pytest.raises(importd_client.NotFound):
            client.contact("con_999999")
        job = client.upload(b"email,first_name,last_name\na@b.co,A,B\n", file_name="one.csv")
        client.cancel(job.id)
        with pytest.raises(importd_client.FailedPrecondition):
            client.resume(job.id)
    with ImportClient(importd.address, token="not-a-token") as stranger:
        with pytest.raises(importd_client.Unauthenticated):
            stranger.get(job.id)
    reader = importd.new_token("read", "reader")
    with ImportClient(importd.address, token=reader) as client:
        with pytest.raises(importd_client.PermissionDenied):
            client.cancel(job.id)
        assert client.get(job.id).state == pb.IMPORT_STATE_CANCELLED


def test_lists_campaigns_template_and_export(importd, tmp_path):
    with ImportClient(importd.address, token=importd.token) as client:
        code = "PY-%d" % time.time_ns()
        made = client.create_campaign("Python summer", code=code)
        assert any(c.id == made.id for c in client.campaigns(page_size=1))
        template = client.template(tmp_path / "template.csv")
        assert (tmp_path / "template.csv").read_bytes() == template.csv and template.fields
        unique = ("list-%d@example.com" % time.time_ns()).encode()
        job = client.upload(b"email,first_name,last_name\nnot-an-email,A,B\n" + unique + b",C,D\n", file_name="two.csv",
                            campaign=code, validate_only=True)
        assert client.wait(job.id).state == pb.IMPORT_STATE_COMPLETED
        assert client.summary(job.id, group_by="outcome") == {"FAILED": 1, "CREATED": 1}
        written = client.export_errors(job.id, tmp_path / "failed.csv")
        assert written > 0 and (tmp_path / "failed.csv").read_text().splitlines()[0] == "email,first_name,last_name,error"
        assert job.id in [j.id for j in client.list_imports(page_size=2)]


def test_watch_reconnects_across_a_restart(fresh_importd, tmp_path):
    data = tmp_path / "data"
    server = fresh_importd("--import-interval", "8760h", data_dir=data)
    client = ImportClient(server.address, token=server.token)
    job = client.upload(b"email,first_name,last_name\na@b.co,A,B\n", file_name="one.csv")
    seen = []
    watcher = threading.Thread(target=lambda: seen.extend(u.state for u in client.watch(job.id)))
    watcher.start()
    time.sleep(1)
    assert server.stop() == 0
    again = fresh_importd("--import-interval", "8760h", "--listen", server.address, data_dir=data)
    time.sleep(1)
    with ImportClient(again.address, token=again.token) as other:
        other.cancel(job.id)
    watcher.join(30)
    client.close()
    assert not watcher.is_alive()
    assert seen[0] == pb.IMPORT_STATE_QUEUED and seen[-1] == pb.IMPORT_STATE_CANCELLED


def test_async_client_from_source(importd):
    async def main():
        async with AsyncImportClient(importd.address, token=importd.token) as client:
            unique = ("async-%d@example.com" % time.time_ns()).encode()
            job = await client.upload(b"email,first_name,last_name\n" + unique + b",A,B\n", file_name="a.csv", validate_only=True)
            assert (await client.wait(job.id)).state == pb.IMPORT_STATE_COMPLETED
            rows = [row async for row in client.rows(job.id)]
            assert [r.outcome for r in rows] == [pb.ROW_OUTCOME_CREATED]
            with pytest.raises(importd_client.NotFound):
                await client.get("imp_424242")
    asyncio.run(main())
