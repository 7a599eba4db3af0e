"""What an operator relies on: JSON log lines (one per finished call, with its
request id, token id and import id, and nothing personal), the request id in
the x-request-id trailer, and the caller's W3C trace id."""
import csv
import json
import os
import time

import generated
from importd_protos import imports_pb2 as pb


def log_lines(server):
    lines = [line for line in server.log().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def test_json_logs_have_one_line_per_call_with_ids_and_no_personal_data(fresh_importd, tmp_path):
    server = fresh_importd("--log-format", "json")
    path = str(tmp_path / "people.csv")
    generated.generate(200, path, 11)
    emails = [row["Email"] for row in csv.DictReader(open(path, newline="")) if "@" in row["Email"]]
    client = server.client()
    job = client.upload(path, validate_only=True)
    # The watch's log line counts every message it sent: those written by its
    # task and those offered straight into the stream as they were published.
    watched = sum(len(update.SerializeToString()) for update in client.watch(job.id, timeout=120))
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response, call = client.stub.GetImport.with_call(
        pb.GetImportRequest(import_id=job.id),
        metadata=client.metadata + [("traceparent", "00-%s-00f067aa0ba902b7-01" % trace)])
    request_id = dict(call.trailing_metadata())["x-request-id"]
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    health_pb2_grpc.HealthStub(client.channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    client.close()
    time.sleep(0.3)
    entries = log_lines(server)  # every line parses as JSON
    assert not [e for e in entries if e.get("method", "").startswith("/grpc.health.v1.Health/")], "probes are not logged at info"
    calls = [e for e in entries if e["msg"] == "call"]
    upload = next(e for e in calls if e["method"].endswith("/UploadContacts"))
    assert upload["status"] == "OK" and upload["import"] == job.id and upload["token"].startswith("tok_")
    assert float(upload["duration_ms"]) >= 0 and upload["request_id"].startswith("r-")
    assert int(upload["bytes_in"]) >= os.path.getsize(path) and int(upload["bytes_out"]) > 0
    watch = next(e for e in calls if e["method"].endswith("/WatchImport"))
    assert watch["status"] == "OK" and int(watch["bytes_out"]) == watched
    get = next(e for e in calls if e.get("request_id") == request_id)
    assert get["method"].endswith("/GetImport") and get["trace_id"] == trace and get["import"] == job.id
    text = server.log()
    assert emails and not [e for e in emails if e in text], "an uploaded email reached the log"
    assert all(set(e) >= {"ts", "level", "logger", "msg"} for e in entries)


def test_refused_calls_are_logged_with_their_status_and_request_id(fresh_importd):
    server = fresh_importd("--log-format", "json")
    client = server.client(token="wrong")
    try:
        client.call("GetImport", pb.GetImportRequest(import_id="imp_1"))
    except Exception as error:  # noqa: BLE001 - the status is what is checked
        request_id = dict(error.trailing_metadata())["x-request-id"]
    client.close()
    time.sleep(0.3)
    line = next(e for e in log_lines(server) if e.get("request_id") == request_id)
    assert line["status"] == "UNAUTHENTICATED" and "token" not in line


def importd_cli(*args):
    import subprocess

    import servers
    return subprocess.run([servers.binary("importd")] + list(args), capture_output=True, text=True, timeout=120)


def test_a_backup_taken_during_an_import_restores_every_acknowledged_upload(fresh_importd, tmp_path):
    import sqlite3

    data = tmp_path / "data"
    server = fresh_importd("--import-interval", "1s", "--batch-rows", "2000", data_dir=data)
    client = server.client()
    big = str(tmp_path / "big.csv")
    generated.generate(60_000, big, 3)
    acknowledged = [client.upload(big).id]
    for i in range(3):
        small = str(tmp_path / ("small%d.csv" % i))
        generated.generate(200, small, 20 + i)
        acknowledged.append(client.upload(small).id)
    # Wait until the big import runs, then back up while it does.
    deadline = time.time() + 30
    while client.call("GetImport", pb.GetImportRequest(import_id=acknowledged[0])).state != pb.IMPORT_STATE_RUNNING:
        assert time.time() < deadline
        time.sleep(0.05)
    backup = importd_cli("backup", "--data-dir", str(data), "--to", str(tmp_path / "backup"))
    assert backup.returncode == 0, backup.stderr
    assert "integrity ok" in backup.stdout
    client.close()
    assert server.stop() == 0
    # The copy alone is a sound database.
    check = sqlite3.connect(str(tmp_path / "backup" / "importd.sqlite"))
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    restored_dir = tmp_path / "restored"
    restore = importd_cli("restore", "--from", str(tmp_path / "backup"), "--data-dir", str(restored_dir))
    assert restore.returncode == 0, restore.stderr
    again = importd_cli("restore", "--from", str(tmp_path / "backup"), "--data-dir", str(restored_dir))
    assert again.returncode != 0 and "already" in again.stderr
    # It serves, holds every acknowledged upload, and the interrupted import finishes from its checkpoint.
    restored = fresh_importd("--import-interval", "1s", data_dir=restored_dir)
    client = restored.client()
    ids = {job.id for job in client.call("ListImports", pb.ListImportsRequest(page_size=100)).imports}
    assert set(acknowledged) <= ids
    final = client.wait(acknowledged[0], timeout=120)
    assert final.state == pb.IMPORT_STATE_COMPLETED and final.processed_rows == 60_000
    client.close()


def test_a_database_from_a_newer_importd_is_refused_in_one_sentence(fresh_importd, tmp_path):
    import sqlite3

    data = tmp_path / "data"
    server = fresh_importd(data_dir=data)
    assert server.stop() == 0
    db = sqlite3.connect(str(data / "importd.sqlite"))
    db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from the future', 0)")
    db.commit()
    db.close()
    result = importd_cli("--listen", "127.0.0.1:0", "--data-dir", str(data))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("importd: the database ") and "schema version 9999" in lines[-1] and "newer" in lines[-1]


def config_print(*args, env=None, tmp_path=None):
    import os
    import subprocess

    import servers
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTD_")}
    environment.update(env or {})
    result = subprocess.run([servers.binary("importd"), "config", "print"] + list(args), capture_output=True, text=True,
                            env=environment, timeout=30)
    settings = dict(line.split(" = ", 1) for line in result.stdout.splitlines() if " = " in line)
    return result, settings


def test_configuration_precedence_flags_over_environment_over_file(tmp_path):
    toml = tmp_path / "importd.toml"
    toml.write_text('# a comment\nlisten = "127.0.0.1:1111"\nlog_level = "debug"\nbatch-rows = 500\nreflection = "public"\n')
    result, settings = config_print("--config", str(toml), "--batch-rows", "900",
                                    env={"IMPORTD_LISTEN": "127.0.0.1:2222", "IMPORTD_BATCH_ROWS": "700"})
    assert result.returncode == 0, result.stderr
    assert settings["listen"] == "127.0.0.1:2222"  # the environment over the file
    assert settings["batch-rows"] == "900"  # a flag over both
    assert settings["log-level"] == "debug" and settings["reflection"] == "public"  # the file over the defaults
    assert settings["import-interval"] == "15m"  # a default
    json_file = tmp_path / "importd.json"
    json_file.write_text('{"max-connections": 123, "log-format": "json"}')
    result, settings = config_print(env={"IMPORTD_CONFIG": str(json_file)})
    assert settings["max-connections"] == "123" and settings["log-format"] == "json"
    bad = tmp_path / "bad.toml"
    bad.write_text("no_such_setting = 1\n")
    result, _ = config_print("--config", str(bad))
    assert result.returncode != 0 and "no-such-setting" in result.stderr


def test_a_server_takes_its_settings_from_the_environment(tmp_path):
    import os
    import subprocess

    import servers
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTD_")}
    environment.update(IMPORTD_LISTEN="127.0.0.1:0", IMPORTD_DATA_DIR=str(tmp_path / "data"), IMPORTD_LOG_FORMAT="json")
    server = servers.Process([servers.binary("importd")], env=environment)
    try:
        assert server.port > 0
        first = [line for line in server.stderr().splitlines() if line.strip()][0]
        assert json.loads(first)["msg"].startswith("created admin token")
    finally:
        assert server.terminate() == 0


def make_server_certificate(tmp_path, name):
    """A server certificate and key signed by tmp_path's ca (made on first use), as NAME.pem and NAME.key."""
    import subprocess
    if not (tmp_path / "ca.pem").exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                        "-days", "1", "-subj", "/CN=ca"], cwd=tmp_path, check=True, capture_output=True)
        (tmp_path / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                    "-subj", "/CN=localhost"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-out", name + ".pem", "-days", "1", "-extfile", "ext.cnf"], cwd=tmp_path, check=True, capture_output=True)


def served_certificate(port):
    import ssl
    return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port))))


def test_sighup_reloads_the_certificate_and_keeps_open_watches(fresh_importd, tmp_path):
    import shutil
    import signal
    import threading

    make_server_certificate(tmp_path, "first")
    shutil.copy(tmp_path / "first.pem", tmp_path / "server.pem")
    shutil.copy(tmp_path / "first.key", tmp_path / "server.key")
    server = fresh_importd("--import-interval", "8760h", "--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.key"))
    ca = (tmp_path / "ca.pem").read_bytes()
    before = served_certificate(server.server.port)
    client = server.client(root_certificates=ca)
    job = client.upload(b"email,first_name,last_name\nreload@example.com,A,B\n", file_name="r.csv")
    seen = []
    watcher = threading.Thread(target=lambda: seen.extend(u.state for u in client.watch(job.id, timeout=60)))
    watcher.start()
    time.sleep(0.5)
    make_server_certificate(tmp_path, "second")
    shutil.copy(tmp_path / "second.pem", tmp_path / "server.pem")
    shutil.copy(tmp_path / "second.key", tmp_path / "server.key")
    server.server.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while served_certificate(server.server.port) == before:
        assert time.time() < deadline, "the new certificate was not served"
        time.sleep(0.1)
    assert served_certificate(server.server.port) == (tmp_path / "second.pem").read_text().strip() + "\n"
    # A bad pair is refused and the current one kept.
    (tmp_path / "server.key").write_text("not a key")
    server.server.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert "kept the current TLS certificate" in server.log()
    other = server.client(root_certificates=ca)
    other.call("CancelImport", pb.CancelImportRequest(import_id=job.id))
    other.close()
    watcher.join(20)
    assert seen == [pb.IMPORT_STATE_QUEUED, pb.IMPORT_STATE_CANCELLED], "the watch opened before the reload lived through it"
    client.close()
