"""importctl, the bundled CLI, against a real importd: every command, its
output for people and for scripts (--json), failures as one sentence, Ctrl-C,
and the progress bar under a pseudo-terminal."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

import generated
import servers

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
HELP_COMMANDS = [[], ["upload"], ["watch"], ["imports", "list"], ["rows"], ["summary"], ["errors"], ["revert"],
                 ["campaigns", "create"], ["contact"], ["template"]]


def importctl(*args, server=None, token=None, env=None, timeout=60, input=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTCTL_")}
    environment["COLUMNS"] = "120"
    if server:
        environment["IMPORTCTL_SERVER"] = server.address
        environment["IMPORTCTL_TOKEN"] = server.token if token is None else token
    environment.update(env or {})
    return subprocess.run([servers.binary("importctl")] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=environment, input=input)


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: "-".join(c) or "root")
def test_help_text_is_pinned(command):
    result = importctl(*command, "--help")
    assert result.returncode == 0
    path = os.path.join(GOLDEN, "help-%s.txt" % ("-".join(command) or "root"))
    if os.environ.get("UPDATE_GOLDEN"):
        open(path, "w").write(result.stdout)
    assert result.stdout == open(path).read(), "help changed: rerun with UPDATE_GOLDEN=1 if intended"


@pytest.mark.parametrize("args,message", [
    (["upload", "/no/such/file.csv"], "no such file"),
    (["upload", "x.csv", "--kind", "person"], "--kind must be contact or lead"),
    (["upload", "x.csv", "--on-duplicate", "merge"], "--on-duplicate must be update or skip"),
    (["upload", "x.csv", "--map", "NoEquals"], "--map takes"),
    (["upload", "x.csv", "--encoding", "ebcdic"], "--encoding must be"),
    (["imports", "list", "--state", "sleeping"], "unknown state sleeping"),
    (["rows", "imp_1", "--outcome", "weird"], "--outcome must be"),
    (["summary", "imp_1", "--group-by", "colour"], "--group-by must be"),
    (["status", "imp_1", "--server", "nonsense"], "--server must be HOST:PORT"),
    (["campaigns", "create", " "], "must not be empty"),
])
def test_validation_errors_come_before_any_call(args, message):
    # The server address points nowhere: a message about it would mean a call was made.
    result = importctl(*args, env={"IMPORTCTL_SERVER": "127.0.0.1:9"})
    assert result.returncode == 64
    assert message in result.stderr
    assert "cannot reach" not in result.stderr


def test_no_server_bad_token_and_bad_id_are_one_sentence(importd):
    result = importctl("imports", "list", env={"IMPORTCTL_SERVER": "127.0.0.1:9", "IMPORTCTL_TOKEN": "x"})
    assert result.returncode == 1
    assert result.stderr.strip().startswith("importctl: cannot reach importd at 127.0.0.1:9")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    result = importctl("imports", "list", server=importd, token="imt_wrong")
    assert result.returncode == 1 and result.stderr.startswith("importctl: UNAUTHENTICATED: the token is not valid")
    result = importctl("imports", "list", server=importd, token="")
    assert result.returncode == 1 and "IMPORTCTL_TOKEN" in result.stderr
    result = importctl("status", "imp_424242", server=importd)
    assert result.returncode == 1 and result.stderr.strip() == "importctl: NOT_FOUND: import imp_424242 does not exist"
    result = importctl("pause", "nonsense", server=importd)
    assert result.returncode == 1 and "NOT_FOUND" in result.stderr


def test_tls_problems_are_one_sentence(fresh_importd, tmp_path):
    for args in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1",
                  "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],):
        subprocess.run(["openssl"] + args, cwd=tmp_path, check=True, capture_output=True)
    server = fresh_importd("--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem"))
    result = importctl("imports", "list", "--tls", server=server)
    assert result.returncode == 1 and "TLS handshake" in result.stderr and "certificate" in result.stderr
    result = importctl("imports", "list", "--tls-ca", str(tmp_path / "cert.pem"), server=server)
    assert result.returncode == 0, result.stderr


def test_the_whole_flow_with_json(importd, tmp_path):
    made = importctl("campaigns", "create", "CLI Summer", "--code", "CLI-%d" % time.time_ns(), "--json", server=importd)
    campaign = json.loads(made.stdout)
    assert set(campaign) == {"id", "name", "code", "created_at"} and campaign["id"].startswith("cmp_")
    sub = json.loads(importctl("subscriptions", "create", "CLI list", "--json", server=importd).stdout)
    listing = importctl("campaigns", "list", server=importd).stdout
    assert "CLI Summer" in listing and listing.startswith("ID")
    template = importctl("template", "-o", str(tmp_path / "template.csv"), server=importd)
    assert template.returncode == 0 and "17 columns" in template.stderr
    assert open(tmp_path / "template.csv").read().startswith("external_id,title,first_name")

    csv_path = tmp_path / "people.csv"
    csv_path.write_text("First Name,Surname,E-mail,Zip\nAna,Lopez,ana.cli@example.org,28013\nBob,,bob.cli@example.org,\n"
                        "Cy,Ng,not-an-email,\n")
    result = importctl("upload", str(csv_path), "--campaign", campaign["id"], "--subscription", sub["id"], "--watch", server=importd)
    assert result.returncode == 0, result.stderr
    import_id = result.stdout.splitlines()[0]
    assert re.fullmatch(r"imp_\d+", import_id)
    assert "COMPLETED" in result.stdout and "created 1, updated 0, skipped 0, failed 2" in result.stdout
    assert "QUEUED" in result.stderr and "next run at" in result.stderr

    listed = [json.loads(line) for line in importctl("imports", "list", "--json", server=importd).stdout.splitlines()]
    mine = next(j for j in listed if j["id"] == import_id)
    assert mine["state"] == "IMPORT_STATE_COMPLETED" and mine["created"] == 1 and mine["file_name"] == "people.csv"
    assert mine["origin_campaign_id"] == campaign["id"] and mine["subscription_ids"] == [sub["id"]]

    status = importctl("status", import_id, server=importd).stdout
    assert "COMPLETED" in status and "failed 2" in status and "importctl errors" in status
    summary = importctl("summary", import_id, "--group-by", "error", server=importd).stdout
    assert re.search(r"MISSING_REQUIRED\s+1", summary) and re.search(r"INVALID_EMAIL\s+1", summary)
    rows = [json.loads(line) for line in importctl("rows", import_id, "--json", server=importd).stdout.splitlines()]
    assert [r["outcome"] for r in rows] == ["ROW_OUTCOME_CREATED", "ROW_OUTCOME_FAILED", "ROW_OUTCOME_FAILED"]
    assert rows[1]["errors"][0] == {"code": "MISSING_REQUIRED", "column": "Surname", "message": "last_name is required"}
    assert rows[0]["values"] == ["Ana", "Lopez", "ana.cli@example.org", "28013"]
    table = importctl("rows", import_id, "--outcome", "failed", server=importd).stdout
    assert table.startswith("ROW") and "INVALID_EMAIL" in table and "CREATED" not in table
    exported = importctl("errors", import_id, "-o", str(tmp_path / "failed.csv"), server=importd)
    assert "wrote 2 failed rows" in exported.stderr
    assert open(tmp_path / "failed.csv").read().splitlines()[0] == "First Name,Surname,E-mail,Zip,error"
    profile = importctl("contact", rows[0]["contact_id"], server=importd).stdout
    assert "Ana Lopez" in profile and "CLI Summer (%s)" % campaign["id"] in profile and "CLI list (%s)" % sub["id"] in profile
    assert "people.csv" in profile

    refused = importctl("revert", import_id, server=importd, input="")
    assert refused.returncode == 64 and "--yes" in refused.stderr
    reverted = importctl("revert", import_id, "--yes", server=importd)
    assert reverted.returncode == 0 and "REVERTED" in reverted.stdout
    watched = importctl("watch", import_id, server=importd)
    assert watched.returncode == 4 and "REVERTED" in watched.stdout


def test_pause_resume_cancel_and_ctrl_c(importd, tmp_path):
    path = str(tmp_path / "big.csv")
    generated.generate(60_000, path, seed=9)
    upload = importctl("upload", path, server=importd)
    import_id = upload.stdout.strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTCTL_")}
    env.update(IMPORTCTL_SERVER=importd.address, IMPORTCTL_TOKEN=importd.token)
    watcher = subprocess.Popen([servers.binary("importctl"), "watch", import_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    while True:
        line = watcher.stdout.readline()
        assert line, "the watch ended early"
        if "RUNNING" in line and " 0/" not in line:
            break
    paused = importctl("pause", import_id, server=importd)
    assert paused.returncode == 0 and "PAUSED" in paused.stdout
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=10)
    assert watcher.returncode == 130
    assert "stopped watching %s; the import goes on" % import_id in err
    status = json.loads(importctl("status", import_id, "--json", server=importd).stdout)
    assert status["state"] == "IMPORT_STATE_PAUSED"
    resumed = importctl("resume", import_id, server=importd).stdout
    # It goes on from where it stopped, and says so.
    assert "QUEUED" in resumed and re.search(r"[\d,]+/60,000 rows done, [\d,]+ waiting", resumed), resumed
    assert "CANCELLED" in importctl("cancel", import_id, server=importd).stdout
    again = importctl("cancel", import_id, server=importd)
    assert again.returncode == 1 and again.stderr.startswith("importctl: FAILED_PRECONDITION")
    assert importctl("watch", import_id, server=importd).returncode == 4


def test_progress_bar_redraws_under_a_pseudo_terminal(importd, tmp_path):
    path = str(tmp_path / "bar.csv")
    generated.generate(150_000, path, seed=13)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTCTL_")}
    env.update(IMPORTCTL_SERVER=importd.address, IMPORTCTL_TOKEN=importd.token, COLUMNS="120")
    command = "stty cols 120; %s upload %s --watch" % (servers.binary("importctl"), path)
    result = subprocess.run(["script", "-q", "-e", "-c", command, "/dev/null"], capture_output=True, timeout=120, env=env)
    screen = result.stdout.decode("utf-8", "replace")
    assert result.returncode == 0, screen
    redraws = screen.count("\r\x1b[2KUploading bar.csv")
    assert redraws >= 1
    assert re.search(r"Uploading bar\.csv  \[[█░]{24}\]  100%  [\d.]+ MB/[\d.]+ MB  [\d.]+ [KMG]?B/s  ETA \d+s", screen)
    # The watch redraws its line in place too, and ends with the summary.
    assert screen.count("\r\x1b[2Kimp_") >= 2
    assert "COMPLETED in" in screen
