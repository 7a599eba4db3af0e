"""What a new user met in their first hour with importd and importctl, end to
end with the real binaries: token admin beside a running server, two servers on
one data directory, Ctrl-C while an upload is watched, dry runs, header-only
files, Excel's windows-1252, messages in flags, codes for campaigns, the same
file twice, versions."""
import json
import os
import signal
import subprocess
import time

import servers
from test_importctl import importctl


def test_token_admin_beside_a_running_server_keeps_writes_working_and_revokes_at_once(fresh_importd, tmp_path):
    server = fresh_importd()
    people = tmp_path / "people.csv"
    people.write_text("first_name,last_name,email\nAna,Lopez,ana.tokens@example.org\n")
    # One import has run: the server's writer connection has been busy.
    assert importctl("upload", str(people), "--watch", server=server).returncode == 0
    writer = server.new_token("write", "uploader")
    # Every kind of write keeps working after the CLI's commit...
    for args in (["campaigns", "create", "After tokens"], ["upload", str(people)]):
        result = importctl(*args, server=server)
        assert result.returncode == 0, result.stderr
    assert importctl("upload", str(people), server=server, token=writer).returncode == 0
    listed = server.token_cli("list")
    token_id = [line.split("\t")[0] for line in listed.splitlines() if line.endswith("\tuploader")][0]
    server.token_cli("revoke", token_id)
    # ...and the revoked token is refused on its very next call.
    refused = importctl("imports", "list", server=server, token=writer)
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr
    assert importctl("campaigns", "create", "After revoke", server=server).returncode == 0
    assert "internal error" not in server.log()


def test_a_second_server_on_the_same_data_directory_refuses_to_start(fresh_importd, tmp_path):
    data = tmp_path / "shared-data"
    first = fresh_importd(data_dir=data)
    second = subprocess.run([servers.binary("importd"), "--listen", "127.0.0.1:0", "--data-dir", str(data)],
                            capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    pid = first.server.proc.pid
    assert second.stderr.strip() == ("importd: another importd (pid %d) is already serving %s; stop it first, "
                                     "or give this one another --data-dir" % (pid, data))
    assert "listening" not in second.stdout
    # Token admin still works beside the running server.
    assert first.new_token("read").startswith("imt_")
    # The kernel drops the lock with the process, even on kill -9.
    first.server.proc.kill()
    first.server.proc.wait()
    again = fresh_importd(data_dir=data)
    assert importctl("imports", "list", server=again).returncode == 0


def test_ctrl_c_stops_watching_an_upload_at_once(fresh_importd, tmp_path):
    server = fresh_importd("--import-interval", "8760h")
    people = tmp_path / "queued.csv"
    people.write_text("first_name,last_name,email\nAna,Lopez,ana.ctrlc@example.org\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTCTL_")}
    env.update(IMPORTCTL_SERVER=server.address, IMPORTCTL_TOKEN=server.token)
    proc = subprocess.Popen([servers.binary("importctl"), "upload", str(people), "--watch"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    assert line.startswith("imp_")
    import_id = line.strip()
    assert "QUEUED" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    started = time.time()
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and time.time() - started < 3
    assert "stopped watching %s; the import goes on" % import_id in err
    status = json.loads(importctl("status", import_id, "--json", server=server).stdout)
    assert status["state"] == "IMPORT_STATE_QUEUED"


def test_a_dry_run_starts_at_once(fresh_importd, tmp_path):
    server = fresh_importd("--import-interval", "8760h")
    people = tmp_path / "dry.csv"
    people.write_text("first_name,last_name,email\nAna,Lopez,ana.dry@example.org\nBob,,bob.dry@example.org\n")
    started = time.time()
    result = importctl("upload", str(people), "--validate-only", "--watch", server=server, timeout=30)
    assert result.returncode == 0, result.stderr
    assert time.time() - started < 10
    assert "a dry run, starting now" in result.stderr
    assert "COMPLETED" in result.stdout and "created 1, updated 0, skipped 0, failed 1" in result.stdout


def test_a_header_only_file_is_refused(importd, tmp_path):
    empty = tmp_path / "header-only.csv"
    empty.write_text("first_name,last_name,email\n")
    result = importctl("upload", str(empty), server=importd)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("importctl: INVALID_ARGUMENT: the file has a header row but no data rows")


def test_an_excel_windows_1252_file_lands_as_written(importd, tmp_path):
    excel = tmp_path / "excel.csv"
    excel.write_bytes("first_name;last_name;email;city\r\nJürgen;Müßig;jm.excel@example.de;Köln\r\n".encode("cp1252"))
    result = importctl("upload", str(excel), "--watch", server=importd)
    assert result.returncode == 0, result.stderr
    assert "read as windows-1252" in result.stderr
    import_id = result.stdout.splitlines()[0]
    job = json.loads(importctl("status", import_id, "--json", server=importd).stdout)
    assert job["encoding"] == "windows-1252"
    rows = [json.loads(line) for line in importctl("rows", import_id, "--json", server=importd).stdout.splitlines()]
    assert rows[0]["values"] == ["Jürgen", "Müßig", "jm.excel@example.de", "Köln"]
    profile = importctl("contact", rows[0]["contact_id"], server=importd).stdout
    assert "Jürgen Müßig" in profile


def test_refusals_speak_in_importctl_flags(importd, tmp_path):
    loyalty = tmp_path / "loyalty.csv"
    loyalty.write_text("first_name,last_name,email,Loyalty Tier,Emial\nAna,Lopez,a@example.org,gold,x\n")
    result = importctl("upload", str(loyalty), server=importd)
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("importctl: INVALID_ARGUMENT: the header row was refused:")
    assert "--map 'Loyalty Tier=FIELD'" in message and "--map 'Emial=email'" in message
    assert "--ignore-unknown-columns" in message
    assert "column_map" not in message and "ignore_unknown_columns" not in message
    bad_map = importctl("upload", str(loyalty), "--map", "Emial=emial", "--ignore-unknown-columns", server=importd)
    assert "--map 'Emial=...': unknown field \"emial\" (did you mean email?)" in bad_map.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes("first_name,last_name,e-mail,Straße\nA,B,a@b.de,x\n".encode("cp1252"))
    declared = importctl("upload", str(latin), "--encoding", "utf-8", "--ignore-unknown-columns", server=importd)
    assert declared.returncode == 1
    assert "--encoding says utf-8; pass --encoding windows-1252" in declared.stderr
    assert "options.encoding" not in declared.stderr


def test_campaign_codes_the_same_file_twice_and_resumed_progress(importd, tmp_path):
    code = "FH%d" % time.time_ns()
    made = importctl("campaigns", "create", "First hour", "--code", code, "--json", server=importd)
    campaign = json.loads(made.stdout)
    sub_code = code + "-NEWS"
    sub = json.loads(importctl("subscriptions", "create", "First hour news", "--code", sub_code, "--json", server=importd).stdout)
    people = tmp_path / "coded.csv"
    people.write_text("first_name,last_name,email\nAna,Lopez,ana.%s@example.org\n" % code.lower())
    first = importctl("upload", str(people), "--campaign", code, "--subscription", sub_code, server=importd)
    assert first.returncode == 0, first.stderr
    first_id = first.stdout.strip()
    job = json.loads(importctl("status", first_id, "--json", server=importd).stdout)
    assert job["origin_campaign_id"] == campaign["id"] and job["subscription_ids"] == [sub["id"]]
    assert job["same_file_as"] == ""
    second = importctl("upload", str(people), server=importd)
    second_id = second.stdout.strip()
    assert "the same file (same SHA-256) was uploaded before as %s" % first_id in second.stderr
    assert json.loads(importctl("status", second_id, "--json", server=importd).stdout)["same_file_as"] == first_id
    missing = importctl("upload", str(people), "--campaign", "NO-SUCH-CODE", server=importd)
    assert missing.returncode == 1 and "NOT_FOUND: campaign NO-SUCH-CODE does not exist" in missing.stderr


def test_versions():
    for name in ("importd", "importctl"):
        result = subprocess.run([servers.binary(name), "--version"], capture_output=True, text=True, timeout=10)
        assert result.returncode == 0 and result.stdout.strip() == "1.1.0"
