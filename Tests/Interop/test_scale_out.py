"""Several importd replicas on one real PostgreSQL: upload through one, watch
through another, control through a third; kill -9 the replica running an
import and see another take it over; two imports with overlapping emails on
two replicas at once."""
import os
import random
import signal
import threading
import time

import grpc
import pytest

import generated
import postgres
from created_rows import postgres_created_rows
from conftest import Importd
from importd_protos import imports_pb2

RUNNING, PAUSED, COMPLETED = imports_pb2.IMPORT_STATE_RUNNING, imports_pb2.IMPORT_STATE_PAUSED, imports_pb2.IMPORT_STATE_COMPLETED


@pytest.fixture(scope="module")
def cluster():
    cluster = postgres.Cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def replicas(cluster, tmp_path):
    """Starts replicas on one new database: the first makes the admin token,
    the others get a copy of it."""
    database = cluster.create_database()
    started = []

    def start(*extra):
        data_dir = tmp_path / ("replica%d" % len(started))
        if started:
            data_dir.mkdir(mode=0o700)
            (data_dir / "admin.token").write_text(started[0].token + "\n")
            os.chmod(data_dir / "admin.token", 0o600)
        server = Importd(data_dir, "--database", cluster.url(database), "--claim-lease", "2s", *extra)
        started.append(server)
        return server

    start.database = database
    yield start
    for server in started:
        if server.server.proc.poll() is None:
            server.stop()


def lease_owner_pid(cluster, database, import_number):
    rows = cluster.query(database, "SELECT lease_owner FROM imports WHERE id = %d AND state = 2" % import_number)
    if not rows or not rows[0][0]:
        return None
    return int(rows[0][0].split(":")[1])


def wait_for(condition, timeout=60, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def assert_exact(cluster, database, import_number, total):
    """Every row once (created rows in blocks, the others in import_rows),
    every contact once."""
    q = lambda sql: int(cluster.scalar(database, sql))  # noqa: E731
    created = postgres_created_rows(cluster, database, import_number)
    others = [int(row[0]) for row in cluster.query(database, "SELECT row_number FROM import_rows WHERE import_id = %d" % import_number)]
    assert sorted(created + others) == list(range(1, total + 1))
    assert q("SELECT count(*) - count(DISTINCT lower(email)) FROM contacts") == 0
    assert q("SELECT count(email_key) - count(DISTINCT email_key) FROM contacts") == 0


def test_upload_on_a_watch_on_b_pause_and_resume_on_c(replicas, cluster, tmp_path):
    a = replicas("--batch-rows", "200")
    b = replicas("--batch-rows", "200")
    c = replicas("--batch-rows", "200")
    path = str(tmp_path / "contacts.csv")
    counts = generated.generate(20000, path, 7)
    ca, cb, cc = a.client(), b.client(), c.client()
    job = ca.upload(path)
    seen = []
    watcher = threading.Thread(target=lambda: seen.extend(cb.watch(job.id, timeout=120)))
    watcher.start()
    wait_for(lambda: cb.call("GetImport", imports_pb2.GetImportRequest(import_id=job.id)).processed_rows > 0)
    paused = cc.call("PauseImport", imports_pb2.PauseImportRequest(import_id=job.id), timeout=15)
    assert paused.state == PAUSED
    assert 0 < paused.processed_rows < 20000
    # Nothing moves while it is paused, whoever is asked.
    time.sleep(1.5)
    for client in (ca, cb, cc):
        still = client.call("GetImport", imports_pb2.GetImportRequest(import_id=job.id))
        assert still.state == PAUSED and still.processed_rows == paused.processed_rows
    cc.call("ResumeImport", imports_pb2.ResumeImportRequest(import_id=job.id))
    watcher.join(timeout=120)
    assert not watcher.is_alive()
    states = [s.state for s in seen]
    assert states[-1] == COMPLETED
    assert PAUSED in states and RUNNING in states[states.index(PAUSED):], states
    processed = [s.processed_rows for s in seen]
    assert processed == sorted(processed), "progress seen through B never goes back"
    done = seen[-1]
    assert done.processed_rows == 20000
    assert done.failed == counts["rows"] - counts["clean"]
    assert done.created == counts["clean"]
    assert_exact(cluster, replicas.database, 1, 20000)
    # Any replica reads the rows back (the spooled file is shared).
    failed = list(cc.rows(job.id, outcome=imports_pb2.ROW_OUTCOME_FAILED))
    assert len(failed) == done.failed and all(r.values for r in failed)
    for client in (ca, cb, cc):
        client.close()


def test_kill_9_twice_another_replica_takes_over_with_exact_counts(replicas, cluster, tmp_path):
    servers = [replicas("--batch-rows", "200") for _ in range(3)]
    total = 60000
    path = str(tmp_path / "big.csv")
    counts = generated.generate(total, path, 11)
    client = servers[0].client()
    job = client.upload(path)
    client.close()
    number = int(job.id.split("_")[1])
    by_pid = {s.server.proc.pid: s for s in servers}
    processed = lambda: int(cluster.scalar(replicas.database, "SELECT processed_rows FROM imports WHERE id = %d" % number))  # noqa: E731
    killed = []
    # Two kills at random points: each once the run has gone a random way further.
    for low, high in ((0.05, 0.3), (0.4, 0.7)):
        pid = wait_for(lambda: (lambda p: p if p in by_pid and p not in killed else None)(lease_owner_pid(cluster, replicas.database, number)),
                       step=0.01)
        point = int(total * random.uniform(low, high))
        wait_for(lambda: processed() >= point, step=0.005)
        os.kill(pid, signal.SIGKILL)
        by_pid[pid].server.proc.wait()
        killed.append(pid)
        assert processed() < total, "the run ended before the kill"
    survivor = next(s for s in servers if s.server.proc.pid not in killed)
    client = survivor.client()
    done = client.wait(job.id, timeout=240)
    client.close()
    assert done.state == COMPLETED
    assert done.processed_rows == total
    assert done.created == counts["clean"] and done.failed == total - counts["clean"]
    assert_exact(cluster, replicas.database, number, total)
    assert int(cluster.scalar(replicas.database, "SELECT count(*) FROM contacts")) == counts["clean"]
    assert any("taking it over" in s.log() for s in servers)


def test_overlapping_imports_on_two_replicas_make_one_contact_per_email(replicas, cluster, tmp_path):
    a = replicas("--batch-rows", "300")
    b = replicas("--batch-rows", "300")
    header = "first_name,last_name,email\n"
    first = header + "".join("F%d,L%d,person%d@example.org\n" % (i, i, i) for i in range(0, 12000))
    second = header + "".join("G%d,M%d,Person%d@Example.org\n" % (i, i, i) for i in range(6000, 18000))
    ca, cb = a.client(), b.client()
    one = ca.upload(first.encode(), file_name="one.csv")
    two = cb.upload(second.encode(), file_name="two.csv")
    done = [ca.wait(one.id, timeout=180), cb.wait(two.id, timeout=180)]
    assert [d.state for d in done] == [COMPLETED, COMPLETED]
    assert sum(d.created for d in done) == 18000
    assert sum(d.updated for d in done) == 6000
    assert sum(d.failed for d in done) == 0
    db = replicas.database
    assert int(cluster.scalar(db, "SELECT count(*) FROM contacts")) == 18000
    assert int(cluster.scalar(db, "SELECT count(DISTINCT lower(email)) FROM contacts")) == 18000
    # Both ran, one on each replica or one after the other on either: the outcome is the same.
    ran_on = cluster.query(db, "SELECT count(DISTINCT created_by_import) FROM contacts")
    assert int(ran_on[0][0]) in (1, 2)
    ca.close()
    cb.close()


def test_a_token_revoked_through_one_replica_is_refused_by_all(replicas, cluster):
    a = replicas()
    b = replicas()
    secret = a.new_token("read", "dashboard")
    reader = b.client(token=secret)
    reader.call("ListImports", imports_pb2.ListImportsRequest())
    a.token_cli("revoke", "tok_2")

    def refused():
        try:
            reader.call("ListImports", imports_pb2.ListImportsRequest())
            return False
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.UNAUTHENTICATED

    wait_for(refused, timeout=10, step=0.2)
    reader.close()
