"""Careless and hostile clients against a real importd: every refusal reaches the
client as a status it can read, in bounded size."""
import grpc
import pytest

from raw_client import bad_request_violations


def test_a_header_with_hundreds_of_unknown_columns_gets_a_bounded_status(importd):
    client = importd.client()
    header = "first_name,last_name,email," + ",".join("Unknown Column %d" % i for i in range(900))
    with pytest.raises(grpc.RpcError) as raised:
        client.upload((header + "\nA,B,a@example.org\n").encode(), timeout=20)
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(error.details().encode()) <= 1024
    assert error.details().startswith("the header row was refused: column \"Unknown Column 0\" maps to no contact field")
    violations = bad_request_violations(error)
    assert len(violations) == 20 and violations[0][0] == "Unknown Column 0"


def test_too_many_columns_and_a_giant_header_cell_are_refused(importd):
    client = importd.client()
    wide = "first_name,last_name,email," + ",".join("c%d" % i for i in range(3000))
    with pytest.raises(grpc.RpcError) as raised:
        client.upload((wide + "\nA,B,a@example.org\n").encode(), timeout=20)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "the header row has 3003 columns, more than the limit of 1000"
    giant = "first_name,last_name,email,%s\nA,B,a@example.org,1\n" % ("x" * 200_000)
    with pytest.raises(grpc.RpcError) as raised:
        client.upload(giant.encode(), timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than the limit of 65536" in raised.value.details()


def test_error_exports_neutralize_formulas(importd):
    client = importd.client()
    job = client.upload(b'first_name,last_name,email\n"=HYPERLINK(""http://x"",""y"")",A,bad\n@SUM(1),B,bad2\n')
    done = client.wait(job.id)
    assert done.failed == 2
    text = client.errors_csv(job.id).decode()
    assert "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"" in text and "'@SUM(1)" in text
    assert "\n=" not in text and ",=" not in text and "\n@" not in text


# ---- Raw HTTP/2: what a client without a token can make the server hold ----

import os
import re
import socket
import struct
import subprocess
import tempfile
import time

import hpack

import servers

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS = 0, 1, 3, 4
END_HEADERS, ACK = 0x4, 0x1


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


class RawConnection:
    """An HTTP/2 connection driven by hand: it ACKs the server's SETTINGS (so the
    server's stream windows apply) and collects what the server sends."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        self.buffer = b""
        self.frames = []
        self.decoder = hpack.Decoder()
        self.read_until(lambda: any(k == SETTINGS and not f & ACK for k, f, _, _ in self.frames))
        self.sock.sendall(frame(SETTINGS, ACK, 0))

    def read_until(self, done, timeout=10):
        deadline = time.time() + timeout
        self.sock.settimeout(0.2)
        while not done() and time.time() < deadline:
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not data:
                break
            self.buffer += data
            while len(self.buffer) >= 9:
                length = int.from_bytes(self.buffer[:3], "big")
                if len(self.buffer) < 9 + length:
                    break
                kind, flags = self.buffer[3], self.buffer[4]
                stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
                payload = self.buffer[9:9 + length]
                if kind == HEADERS:
                    payload = self.decoder.decode(payload)
                self.frames.append((kind, flags, stream, payload))
                self.buffer = self.buffer[9 + length:]
        return done()

    def open(self, stream, path):
        block = hpack.Encoder().encode([(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                                        ("content-type", "application/grpc"), ("te", "trailers")])
        self.sock.sendall(frame(HEADERS, END_HEADERS, stream, block))

    def send_partial_message(self, stream, declared, sent):
        """A message prefix declaring `declared` bytes, then `sent` of them, no END_STREAM."""
        body = b"\x00" + struct.pack(">I", declared) + b"x" * sent
        for start in range(0, len(body), 16 << 10):
            self.sock.sendall(frame(DATA, 0, stream, body[start:start + (16 << 10)]))

    def statuses(self):
        """grpc-status per stream, from the header blocks received."""
        found = {}
        for kind, _, stream, headers in self.frames:
            if kind == HEADERS:
                for name, value in headers:
                    if name in (b"grpc-status", "grpc-status"):
                        found[stream] = int(value)
        return found


def rss(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_health_checks_without_a_token_cannot_pin_memory(importd):
    pid = importd.server.proc.pid
    before = rss(pid)
    conn = RawConnection(importd.server.port)
    for i in range(50):
        stream = 1 + 2 * i
        conn.open(stream, "/grpc.health.v1.Health/Check")
        conn.send_partial_message(stream, 4 << 20, 900 << 10)
    assert conn.read_until(lambda: len(conn.statuses()) == 50), "every stream gets a status"
    assert set(conn.statuses().values()) == {8}, "RESOURCE_EXHAUSTED"
    grown = rss(pid) - before
    assert grown < 16 << 20, "RSS grew by %d MiB" % (grown >> 20)


def h2load(port, path, requests, *headers):
    """Runs h2load (nghttp2's load generator) with gRPC's headers and an empty
    request message; returns how many calls succeeded."""
    frame = bytes(5)  # an empty message: not compressed, 0 bytes
    with tempfile.NamedTemporaryFile() as body:
        body.write(frame)
        body.flush()
        args = ["h2load", "-n", str(requests), "-c", "4", "-m", "16", "-t", "1", "-d", body.name,
                "-H", "content-type: application/grpc", "-H", "te: trailers"]
        for header in headers:
            args += ["-H", header]
        out = subprocess.run(args + ["http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True, timeout=120).stdout
    match = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out)
    assert match, out
    return int(match.group(1))


def test_many_calls_leave_no_memory_behind(importd):
    # Each call's context once kept itself alive (its parking slot held the
    # closure that ends the call, which held the context): about 1.8 KiB a
    # call, 360 MB after 200,000 health checks. Warm up first (malloc arenas,
    # caches), then 100,000 calls of two kinds must not grow the process.
    pid = importd.server.proc.pid
    port = importd.server.port
    health = "/grpc.health.v1.Health/Check"
    template = "/softrip.marketing.imports.v1.ImportService/GetImportTemplate"
    auth = "authorization: Bearer " + importd.token
    assert h2load(port, health, 20000) == 20000
    assert h2load(port, template, 5000, auth) == 5000
    before = rss(pid)
    assert h2load(port, health, 80000) == 80000
    assert h2load(port, template, 20000, auth) == 20000
    grown = rss(pid) - before
    assert grown < 12 << 20, "RSS grew by %d MiB over 100,000 calls" % (grown >> 20)


def test_importd_runs_with_its_allocator_settings(importd):
    # glibc takes the per-thread cache size only from GLIBC_TUNABLES at start:
    # importd executes itself once with it set (same process, same arguments).
    pid = importd.server.proc.pid
    environ = open("/proc/%d/environ" % pid, "rb").read().split(b"\0")
    own = os.environ.get("GLIBC_TUNABLES")
    if own is None:
        assert b"GLIBC_TUNABLES=glibc.malloc.tcache_count=64" in environ
        assert b"CPLATFORM_REEXECUTED=1" in environ
    else:
        # The operator's setting is kept (glibc shows only its first tunable
        # here); importd appends its own unless that one is set already.
        assert any(entry.startswith(b"GLIBC_TUNABLES=" + own.split(":")[0].encode()) for entry in environ)
        assert (b"CPLATFORM_REEXECUTED=1" in environ) == ("glibc.malloc.tcache_count" not in own)
    assert open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")[0].endswith(b"importd")


def test_one_connection_cannot_make_the_server_hold_more_than_its_budget(rpctest_server):
    pid = rpctest_server.proc.pid
    before = rss(pid)
    conn = RawConnection(rpctest_server.port)
    for i in range(90):
        stream = 1 + 2 * i
        conn.open(stream, "/rpctest.v1.TestService/Collect")
        conn.send_partial_message(stream, 4 << 20, 900 << 10)
    conn.read_until(lambda: len(conn.statuses()) >= 50, timeout=5)
    statuses = conn.statuses()
    assert statuses and set(statuses.values()) == {8}, statuses
    grown = rss(pid) - before
    assert grown < 48 << 20, "RSS grew by %d MiB for 81 MB of partial messages" % (grown >> 20)


def test_a_stream_that_stops_mid_message_ends(fresh_importd):
    server = fresh_importd("--receive-timeout", "1s")
    conn = RawConnection(server.server.port)
    conn.open(1, "/grpc.health.v1.Health/Check")
    conn.send_partial_message(1, 500, 100)
    started = time.time()
    assert conn.read_until(lambda: 1 in conn.statuses(), timeout=10)
    assert conn.statuses()[1] == 8 and 0.8 < time.time() - started < 5


def test_running_out_of_file_descriptors_does_not_spin_the_accept_loop(tmp_path):
    log = open(tmp_path / "importd.log", "w+")
    # The limit is set by a shell, not by preexec_fn: that runs Python in a
    # forked copy of this process, where grpcio's fork handlers (its threads
    # from earlier tests) can end the child before it runs importd.
    proc = subprocess.Popen(["/bin/sh", "-c", 'ulimit -n 64 && exec "$0" "$@"', servers.binary("importd"),
                             "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data")],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            log.seek(0)
            raise AssertionError("importd did not start with 64 descriptors (exit status %r, stdout %r):\n%s"
                                 % (proc.wait(timeout=20), line, log.read()[-4000:]))
        port = int(line.strip().rsplit(":", 1)[1])
        sockets = []
        for _ in range(100):
            try:
                sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        time.sleep(0.5)
        cpu = cpu_seconds(proc.pid)
        time.sleep(2)
        assert cpu_seconds(proc.pid) - cpu < 0.5, "the server spun"
        log.flush()
        assert os.path.getsize(tmp_path / "importd.log") < 64 << 10
        for s in sockets:
            s.close()
        # Serving again once the clients have left.
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_revoking_a_token_ends_its_open_streams(importd):
    import threading
    from importd_protos import imports_pb2

    reader = importd.new_token("read", "revoked-watcher")
    writer = importd.new_token("write", "revoked-uploader")
    watcher_client = importd.client(token=reader)
    watch = watcher_client.stub.WatchImports(imports_pb2.WatchImportsRequest(), metadata=watcher_client.metadata, timeout=60)
    uploader = importd.client(token=writer)
    stop = threading.Event()

    def chunks():
        yield imports_pb2.UploadContactsRequest(options=imports_pb2.UploadOptions(file_name="slow.csv"))
        yield imports_pb2.UploadContactsRequest(chunk=b"first_name,last_name,email\n")
        while not stop.wait(0.1):
            yield imports_pb2.UploadContactsRequest(chunk=b"A,B,slow@example.org\n")

    outcome = {}

    def upload():
        try:
            uploader.stub.UploadContacts(chunks(), metadata=uploader.metadata, timeout=60)
            outcome["upload"] = "ok"
        except grpc.RpcError as error:
            outcome["upload"] = error.code()

    thread = threading.Thread(target=upload)
    thread.start()
    time.sleep(0.5)
    listed = importd.token_cli("list")
    for line in listed.splitlines():
        if line.endswith("\trevoked-watcher") or line.endswith("\trevoked-uploader"):
            importd.token_cli("revoke", line.split("\t")[0])
    revoked_at = time.time()
    with pytest.raises(grpc.RpcError) as raised:
        for _ in watch:
            pass
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert time.time() - revoked_at < 3
    thread.join(timeout=10)
    stop.set()
    assert outcome.get("upload") == grpc.StatusCode.UNAUTHENTICATED


def test_a_full_disk_refuses_uploads_cleanly_and_pauses_the_import_until_space_is_back(fresh_importd, tmp_path):
    import generated
    from importd_protos import imports_pb2 as pb

    mount = tmp_path / "small-disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (%s): the full-disk test needs root" % mounted.stderr.strip())
    server = None
    try:
        server = fresh_importd("--disk-full-retry", "1s", "--batch-rows", "2000", data_dir=mount / "data")
        client = server.client()
        big = str(tmp_path / "big.csv")
        generated.generate(220_000, big, seed=21)  # about 34 MB: more than the disk
        with pytest.raises(grpc.RpcError) as raised:
            client.upload(big, timeout=60)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "disk is full" in raised.value.details()
        assert os.listdir(mount / "data" / "spool") == [], "a partial upload was left behind"

        file = str(tmp_path / "fills.csv")
        counts = generated.generate(100_000, file, seed=22)  # 15 MB: fits, its contacts do not
        job = client.upload(file, timeout=60)
        paused = None
        for update in client.watch(job.id, timeout=120):
            if update.state == pb.IMPORT_STATE_PAUSED:
                paused = update
                break
        assert paused is not None and "disk is full" in paused.error
        subprocess.run(["mount", "-o", "remount,size=512m", str(mount)], check=True)
        done = client.wait(job.id, timeout=120)
        assert done.state == pb.IMPORT_STATE_COMPLETED
        assert (done.processed_rows, done.created) == (counts["rows"], counts["clean"])
        assert done.error == ""
    finally:
        if server is not None:
            server.stop()
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_deleted_admin_token_file_mints_no_second_admin(fresh_importd, tmp_path):
    data = tmp_path / "data-admin"
    server = fresh_importd(data_dir=data)
    server.stop()
    os.remove(data / "admin.token")
    proc = subprocess.Popen([servers.binary("importd"), "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("listening on ")
        assert not (data / "admin.token").exists()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "admin.token is missing and tokens exist: no new admin token was made" in err
    listed = subprocess.run([servers.binary("importd"), "token", "list", "--data-dir", str(data)], capture_output=True, text=True)
    assert listed.stdout.count("\tadmin\t") == 1


def test_a_data_directory_others_can_write_is_refused(tmp_path):
    data = tmp_path / "open-data"
    data.mkdir()
    os.chmod(data, 0o777)
    result = subprocess.run([servers.binary("importd"), "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "can be written by other users (mode 777); make it private first: chmod 700" in result.stderr


def test_error_files_are_private_and_tokens_can_come_from_a_file(importd, tmp_path):
    from test_importctl import importctl
    people = tmp_path / "bad.csv"
    people.write_text("first_name,last_name,email\nAna,Lopez,not-an-email\n")
    token_file = tmp_path / "token"
    token_file.write_text(importd.token + "\n")
    env = {"IMPORTCTL_SERVER": importd.address}
    uploaded = importctl("upload", str(people), "--watch", "--token-file", str(token_file), env=env)
    assert uploaded.returncode == 0, uploaded.stderr
    import_id = uploaded.stdout.splitlines()[0]
    out = tmp_path / "failed.csv"
    exported = importctl("errors", import_id, "-o", str(out), "--token-file", str(token_file), env=env)
    assert exported.returncode == 0, exported.stderr
    assert os.stat(out).st_mode & 0o777 == 0o600
    missing = importctl("imports", "list", "--token-file", str(tmp_path / "nope"), env=env)
    assert missing.returncode == 64 and "cannot read the token file" in missing.stderr


def test_an_upload_that_sends_nothing_is_ended(fresh_importd):
    from importd_protos import imports_pb2
    server = fresh_importd("--upload-idle-timeout", "1s")
    client = server.client()

    def stalls():
        yield imports_pb2.UploadContactsRequest(options=imports_pb2.UploadOptions(file_name="stall.csv"))
        yield imports_pb2.UploadContactsRequest(chunk=b"first_name,last_name,email\n")
        time.sleep(4)

    started = time.time()
    with pytest.raises(grpc.RpcError) as raised:
        client.stub.UploadContacts(stalls(), metadata=client.metadata, timeout=30)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "sent nothing" in raised.value.details()
    assert time.time() - started < 3.5
    assert os.listdir(os.path.join(server.data_dir, "spool")) == []


def test_nul_bytes_in_unmapped_columns_reach_clients_as_replacement_characters(importd):
    client = importd.client()
    job = client.upload(b"first_name,last_name,email,Extra\nAna,Lopez,ana.nul@example.org,a\x00b\n", ignore_unknown_columns=True)
    client.wait(job.id)
    row = next(iter(client.rows(job.id)))
    assert row.values[3] == "a\ufffdb"


def test_calls_beyond_the_servers_cap_are_refused_with_a_status(fresh_importd):
    # --max-calls bounds what watchers on all connections together may hold.
    import time
    from importd_protos import imports_pb2
    from test_metrics import admin_port, scrape, value
    server = fresh_importd("--max-calls", "3", "--admin-listen", "127.0.0.1:0")
    port = admin_port(server)
    clients = [server.client() for _ in range(4)]  # a connection each
    watches = [c.stub.WatchImports(imports_pb2.WatchImportsRequest(), metadata=c.metadata, timeout=60) for c in clients[:3]]

    def calls_open(count):
        for _ in range(100):
            if value(scrape(port), "importd_calls_in_flight") == count:
                return True
            time.sleep(0.05)
        return False

    try:
        assert calls_open(3)
        with pytest.raises(grpc.RpcError) as raised:
            clients[3].call("GetImportTemplate", imports_pb2.GetImportTemplateRequest())
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "limit of 3 calls" in raised.value.details()
        assert value(scrape(port), "importd_limit_hits_total", limit="calls") == 1
        watches[0].cancel()
        assert calls_open(2)
        assert clients[3].call("GetImportTemplate", imports_pb2.GetImportTemplateRequest()).csv
    finally:
        for watch in watches:
            watch.cancel()
        for c in clients:
            c.close()
