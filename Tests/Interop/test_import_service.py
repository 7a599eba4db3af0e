"""ImportService end to end: a real importd driven by grpcio with stubs
generated from Protos/. Every RPC, the contract's CSV cases and errors."""
import codecs
import csv
import hashlib
import io
import os
import threading
import time

import grpc
import pytest

from raw_client import bad_request_violations
from importd_protos import imports_pb2 as pb

FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


def code_of(call, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as e:
        call(*args, **kwargs)
    return e.value


def test_tokens_and_scopes(importd):
    anonymous = importd.client(token="")
    assert code_of(anonymous.call, "ListImports", pb.ListImportsRequest()).code() == grpc.StatusCode.UNAUTHENTICATED
    wrong = importd.client(token="imt_not-a-token")
    error = code_of(wrong.call, "ListImports", pb.ListImportsRequest())
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED and "not valid" in error.details()
    reader = importd.client(token=importd.new_token("read"))
    reader.call("ListImports", pb.ListImportsRequest())
    error = code_of(reader.upload, b"first_name,last_name,email\n")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and "write" in error.details()
    writer = importd.client(token=importd.new_token("write"))
    error = code_of(writer.call, "CreateCampaign", pb.CreateCampaignRequest(name="x"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    # Revocation takes effect within seconds.
    secret = importd.new_token("read", "short-lived")
    temporary = importd.client(token=secret)
    temporary.call("ListImports", pb.ListImportsRequest())
    listing = importd.token_cli("list")
    token_id = [line.split("\t")[0] for line in listing.splitlines() if line.endswith("short-lived")][0]
    importd.token_cli("revoke", token_id)
    time.sleep(2.5)
    assert code_of(temporary.call, "ListImports", pb.ListImportsRequest()).code() == grpc.StatusCode.UNAUTHENTICATED
    assert secret not in importd.token_cli("list")
    assert oct(os.stat(os.path.join(importd.data_dir, "admin.token")).st_mode & 0o777) == "0o600"


def test_campaigns_and_subscriptions_with_paging(importd):
    client = importd.client()
    made = [client.call("CreateCampaign", pb.CreateCampaignRequest(name="Campaign %d" % i, code="C%d" % i)) for i in range(5)]
    assert all(c.id.startswith("cmp_") and c.created_at.seconds > 0 for c in made)
    assert code_of(client.call, "CreateCampaign", pb.CreateCampaignRequest(name="Again", code="C1")).code() == grpc.StatusCode.ALREADY_EXISTS
    error = code_of(client.call, "CreateCampaign", pb.CreateCampaignRequest(name=" "))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and ("name", "required") in bad_request_violations(error)
    seen, token = [], ""
    while True:
        page = client.call("ListCampaigns", pb.ListCampaignsRequest(page_size=2, page_token=token))
        assert len(page.campaigns) <= 2
        seen += [c.id for c in page.campaigns]
        token = page.next_page_token
        if not token:
            break
    assert [c.id for c in made] == [i for i in seen if i in {c.id for c in made}]
    assert code_of(client.call, "ListCampaigns", pb.ListCampaignsRequest(page_token="garbage")).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(client.call, "ListCampaigns", pb.ListCampaignsRequest(page_size=-1)).code() == grpc.StatusCode.INVALID_ARGUMENT
    subscription = client.call("CreateSubscription", pb.CreateSubscriptionRequest(name="Newsletter", code="NEWS"))
    assert subscription.id in [s.id for s in client.call("ListSubscriptions", pb.ListSubscriptionsRequest()).subscriptions]


def test_template_round_trips(importd):
    client = importd.client()
    template = client.call("GetImportTemplate", pb.GetImportTemplateRequest())
    header, example = list(csv.reader(io.StringIO(template.csv.decode())))
    assert header == ["external_id", "title", "first_name", "last_name", "email", "phone", "mobile", "address1", "address2",
                      "city", "state", "postal_code", "country", "birth_date", "gender", "company", "notes"]
    required = {f.name for f in template.fields if f.required}
    assert required == {"first_name", "last_name"}
    assert any("Zip" in f.aliases for f in template.fields if f.name == "postal_code")
    job = client.upload(template.csv, file_name="template.csv")
    done = client.wait(job.id)
    assert done.state == pb.IMPORT_STATE_COMPLETED and done.created == 1 and done.failed == 0


def test_csv_cases_and_every_row_error_code(importd):
    client = importd.client()
    text = ("\ufeffGiven Name;Surname;E-mail;Mobile Phone;DOB;Zip;Notes\r\n"
            "Ana;Pérez;ana.case@example.org;+34 600 111 222;1990-05-01;28013;\"line one\r\nline \"\"two\"\"\"\r\n"
            ";Smith;a1.case@example.org;;;;\r\n"
            "Bo;Lee;not-an-email;;;;\r\n"
            "Cy;Lee;;12;;;\r\n"
            "Di;Lee;di.case@example.org;;1990-02-30;;\r\n"
            "Ed;Lee;ed.case@example.org;;;;" + "x" * 4001 + "\r\n"
            "Fi;Lee;ANA.CASE@example.org;;;;\r\n"
            "Gu;Lee;gu.case@example.org;;\r\n"
            "Hal;\"Lee\"x;hal.case@example.org;;;;\r\n"
            "\r\n")
    job = client.upload(text.encode("utf-8"), file_name="cases.csv")
    assert job.total_rows == 9
    done = client.wait(job.id)
    assert (done.created, done.failed, done.processed_rows) == (1, 8, 9)
    rows = list(client.rows(job.id))
    assert [r.row_number for r in rows] == list(range(1, 10))
    codes = [[e.code for e in r.errors] for r in rows]
    assert codes == [[], ["MISSING_REQUIRED"], ["INVALID_EMAIL"], ["INVALID_PHONE"], ["INVALID_DATE"], ["VALUE_TOO_LONG"],
                     ["DUPLICATE_IN_FILE"], ["MALFORMED_ROW"], ["MALFORMED_ROW"]]
    assert rows[0].values[6] == 'line one\r\nline "two"'
    assert rows[0].contact_id.startswith("ct_")
    assert rows[1].errors[0].column == "Given Name"
    contact = client.call("GetContact", pb.GetContactRequest(contact_id=rows[0].contact_id))
    assert (contact.first_name, contact.postal_code, contact.mobile, contact.birth_date) == ("Ana", "28013", "+34 600 111 222", "1990-05-01")
    assert contact.created_by_import_id == job.id
    by_code = client.summary(job.id, pb.GROUP_BY_ERROR_CODE)
    assert by_code == {"MISSING_REQUIRED": 1, "INVALID_EMAIL": 1, "INVALID_PHONE": 1, "INVALID_DATE": 1, "VALUE_TOO_LONG": 1,
                       "DUPLICATE_IN_FILE": 1, "MALFORMED_ROW": 2}
    assert client.summary(job.id, pb.GROUP_BY_OUTCOME) == {"CREATED": 1, "FAILED": 8}
    assert client.summary(job.id, pb.GROUP_BY_COLUMN)["E-mail"] == 2
    failed = list(client.rows(job.id, outcome=pb.ROW_OUTCOME_FAILED))
    assert len(failed) == 8
    exported = list(csv.reader(io.StringIO(client.errors_csv(job.id).decode())))
    assert exported[0] == ["Given Name", "Surname", "E-mail", "Mobile Phone", "DOB", "Zip", "Notes", "error"]
    assert len(exported) == 9
    assert exported[1][:3] == ["", "Smith", "a1.case@example.org"] and exported[1][-1].startswith("MISSING_REQUIRED")


def test_invalid_encoding_and_windows_1252(importd):
    client = importd.client()
    broken = "first_name,last_name,email\n".encode() + b"J\xfcrgen,M,jurgen.enc@example.de\nAna,B,ana.enc@example.org\n"
    # Declared UTF-8: the row that is not UTF-8 fails, the others go in.
    job = client.upload(broken, file_name="latin.csv", encoding="utf-8")
    assert job.encoding == "utf-8"
    done = client.wait(job.id)
    assert (done.created, done.failed) == (1, 1)
    assert list(client.rows(job.id, outcome=pb.ROW_OUTCOME_FAILED))[0].errors[0].code == "INVALID_ENCODING"
    for declared in ("windows-1252", ""):
        job = client.upload(broken.replace(b"jurgen.enc", b"jurgen.cp" + declared.encode()), file_name="latin.csv", encoding=declared)
        assert job.encoding == "windows-1252"
        done = client.wait(job.id)
        assert (done.created, done.updated, done.failed) == (1, 1, 0)
        name = list(client.rows(job.id))[0].values[0]
        assert name == "Jürgen"


def test_update_skip_and_dry_run(importd):
    client = importd.client()
    first = client.upload(b"external_id,first_name,last_name,email,city\nU-1,Ann,Old,ann.upd@example.org,Lima\n")
    client.wait(first.id)
    second = client.upload(b"external_id,first_name,last_name,email,city\nU-1,Ann,New,ANN.UPD@example.org,\n")
    done = client.wait(second.id)
    assert done.updated == 1 and done.created == 0
    row = list(client.rows(second.id))[0]
    contact = client.call("GetContact", pb.GetContactRequest(contact_id=row.contact_id))
    assert (contact.last_name, contact.city, contact.email) == ("New", "Lima", "ann.upd@example.org")
    assert contact.updated_by_import_id == second.id and contact.created_by_import_id == first.id
    third = client.upload(b"first_name,last_name,email\nAnn,Skipped,ann.upd@example.org\n", on_duplicate=pb.DUPLICATE_POLICY_SKIP)
    assert client.wait(third.id).skipped == 1
    assert client.call("GetContact", pb.GetContactRequest(contact_id=row.contact_id)).last_name == "New"
    dry = client.upload(b"first_name,last_name,email\nAnn,Dry,ann.upd@example.org\nNew,Person,new.dry@example.org\nBad,,x@example.org\n",
                        validate_only=True)
    done = client.wait(dry.id)
    assert done.validate_only and (done.updated, done.created, done.failed) == (1, 1, 1)
    assert client.call("GetContact", pb.GetContactRequest(contact_id=row.contact_id)).last_name == "New"
    assert [r.contact_id for r in client.rows(dry.id)][1] == ""
    assert code_of(client.call, "RevertImport", pb.RevertImportRequest(import_id=dry.id)).code() == FAILED_PRECONDITION


def test_refused_uploads_create_nothing(importd):
    client = importd.client()
    before = client.call("ListImports", pb.ListImportsRequest(page_size=1000)).imports
    spool = set(os.listdir(os.path.join(importd.data_dir, "spool")))
    error = code_of(client.upload, b"first_name,emial,Frequent Flyer\n" + b"x" * 10_000_000, chunk_size=65536)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = dict(bad_request_violations(error))
    assert "did you mean email?" in violations["emial"] and "Frequent Flyer" in violations and "last_name" in violations
    assert code_of(client.upload, b"first_name,last_name,email\n", origin_campaign_id="cmp_999999").code() == grpc.StatusCode.NOT_FOUND
    assert code_of(client.upload, b"first_name,last_name,email\n", subscription_ids=["sub_999999"]).code() == grpc.StatusCode.NOT_FOUND
    error = code_of(client.upload, b"first_name,last_name,email\nA,B,a@b.co\n", sha256="0" * 64)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "sha256" in error.details()
    assert code_of(client.upload, b"first_name,last_name,email\n", encoding="ebcdic").code() == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(client.upload, b"").code() == grpc.StatusCode.INVALID_ARGUMENT
    chunks_only = iter([pb.UploadContactsRequest(chunk=b"first_name,last_name,email\n")])
    assert code_of(client.stub.UploadContacts, chunks_only, metadata=client.metadata).code() == grpc.StatusCode.INVALID_ARGUMENT
    after = client.call("ListImports", pb.ListImportsRequest(page_size=1000)).imports
    assert len(after) == len(before)
    assert set(os.listdir(os.path.join(importd.data_dir, "spool"))) == spool


def test_oversized_upload_is_resource_exhausted(fresh_importd):
    server = fresh_importd("--max-upload-mb", "1")
    client = server.client()
    error = code_of(client.upload, b"first_name,last_name,email\n" + b"A,B,a@b.co\n" * 200_000, chunk_size=65536)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert os.listdir(os.path.join(server.data_dir, "spool")) == []


def test_unknown_ids_and_wrong_states(importd):
    client = importd.client()
    for method, request in [("GetImport", pb.GetImportRequest(import_id="imp_999999")),
                            ("PauseImport", pb.PauseImportRequest(import_id="imp_999999")),
                            ("GetContact", pb.GetContactRequest(contact_id="ct_999999")),
                            ("GetImport", pb.GetImportRequest(import_id="cmp_1"))]:
        assert code_of(client.call, method, request).code() == grpc.StatusCode.NOT_FOUND
    assert code_of(client.call, "GetImport", pb.GetImportRequest()).code() == grpc.StatusCode.INVALID_ARGUMENT
    job = client.upload(b"first_name,last_name,email\nZ,Z,z.state@example.org\n")
    client.wait(job.id)
    for method in ["PauseImport", "ResumeImport", "CancelImport"]:
        error = code_of(client.call, method, getattr(pb, method + "Request")(import_id=job.id))
        assert error.code() == FAILED_PRECONDITION and "COMPLETED" in error.details()


def test_watch_order_pause_resume_cancel_and_revert(importd, tmp_path):
    import generated
    client = importd.client()
    path = str(tmp_path / "big.csv")
    generated.generate(60_000, path, seed=3)
    campaign = client.call("CreateCampaign", pb.CreateCampaignRequest(name="Autumn", code="AUT-%d" % time.time_ns()))
    subscription = client.call("CreateSubscription", pb.CreateSubscriptionRequest(name="Deals"))
    job = client.upload(path, origin_campaign_id=campaign.id, subscription_ids=[subscription.id])
    assert job.state == pb.IMPORT_STATE_QUEUED and job.next_run_at.seconds > 0
    updates = []
    paused = None
    for update in client.watch(job.id, timeout=120):
        updates.append(update)
        if update.state == pb.IMPORT_STATE_RUNNING and update.processed_rows > 0 and paused is None:
            started = time.time()
            paused = client.call("PauseImport", pb.PauseImportRequest(import_id=job.id))
            assert time.time() - started < 1.5
            assert paused.state == pb.IMPORT_STATE_PAUSED and paused.processed_rows < paused.total_rows
            resumed = client.call("ResumeImport", pb.ResumeImportRequest(import_id=job.id))
            assert resumed.state == pb.IMPORT_STATE_QUEUED and resumed.next_run_at.seconds > 0
    states = [u.state for u in updates]
    assert states[0] == pb.IMPORT_STATE_QUEUED
    assert states[-1] == pb.IMPORT_STATE_COMPLETED
    assert pb.IMPORT_STATE_PAUSED in states
    assert [u.processed_rows for u in updates] == sorted(u.processed_rows for u in updates)
    done = updates[-1]
    assert done.processed_rows == done.total_rows == 60_000
    contact = client.call("GetContact", pb.GetContactRequest(contact_id=next(client.rows(job.id)).contact_id))
    assert contact.origin_campaign_id == campaign.id and list(contact.subscription_ids) == [subscription.id]
    reverted = client.call("RevertImport", pb.RevertImportRequest(import_id=job.id))
    assert reverted.state == pb.IMPORT_STATE_REVERTED and reverted.reverted_rows == done.created
    assert code_of(client.call, "GetContact", pb.GetContactRequest(contact_id=contact.id)).code() == grpc.StatusCode.NOT_FOUND
    # Cancel a running one: rows already applied stay.
    second = client.upload(path, file_name="again.csv")
    for update in client.watch(second.id, timeout=120):
        if update.state == pb.IMPORT_STATE_RUNNING and update.processed_rows > 0:
            cancelled = client.call("CancelImport", pb.CancelImportRequest(import_id=second.id))
            assert cancelled.state == pb.IMPORT_STATE_CANCELLED
    final = client.call("GetImport", pb.GetImportRequest(import_id=second.id))
    assert final.state == pb.IMPORT_STATE_CANCELLED and 0 < final.processed_rows < 60_000
    assert len(list(client.rows(second.id))) == final.processed_rows
    assert client.call("RevertImport", pb.RevertImportRequest(import_id=second.id)).state == pb.IMPORT_STATE_REVERTED


def test_list_imports_filters_and_pages(importd):
    client = importd.client()
    ids = [client.upload(b"first_name,last_name,email\nP,Q,p%d.list@example.org\n" % i).id for i in range(3)]
    queued = client.call("ListImports", pb.ListImportsRequest(states=[pb.IMPORT_STATE_QUEUED], page_size=1000)).imports
    assert all(j.state == pb.IMPORT_STATE_QUEUED for j in queued)
    for i in ids:
        client.wait(i)
    page = client.call("ListImports", pb.ListImportsRequest(page_size=2))
    assert [j.id for j in page.imports] == [ids[2], ids[1]] and page.next_page_token
    following = client.call("ListImports", pb.ListImportsRequest(page_size=2, page_token=page.next_page_token))
    assert following.imports[0].id == ids[0]
    error = code_of(client.call, "ListImports", pb.ListImportsRequest(page_size=2, page_token=page.next_page_token,
                                                                      states=[pb.IMPORT_STATE_FAILED]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_watch_imports_sees_every_change(importd):
    client = importd.client()
    seen = []
    stream = client.stub.WatchImports(pb.WatchImportsRequest(), metadata=client.metadata, timeout=60)

    def collect():
        try:
            for update in stream:
                seen.append((update.id, update.state))
        except grpc.RpcError:
            pass

    thread = threading.Thread(target=collect)
    thread.start()
    time.sleep(0.3)
    job = client.upload(b"first_name,last_name,email\nW,W,w.all@example.org\n")
    client.wait(job.id)
    time.sleep(0.3)
    stream.cancel()
    thread.join()
    states = [s for i, s in seen if i == job.id]
    assert states[0] == pb.IMPORT_STATE_QUEUED and states[-1] == pb.IMPORT_STATE_COMPLETED
    assert pb.IMPORT_STATE_RUNNING in states


def test_many_watchers_and_health(importd):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    client = importd.client()
    health = health_pb2_grpc.HealthStub(client.channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    assert health.Check(health_pb2.HealthCheckRequest(service="softrip.marketing.imports.v1.ImportService")).status == \
        health_pb2.HealthCheckResponse.SERVING
    job = client.upload(b"first_name,last_name,email\n" + b"".join(b"M,N,m%d.watch@example.org\n" % i for i in range(3000)))
    finals = []

    def watch():
        finals.append(client.wait(job.id))

    threads = [threading.Thread(target=watch) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(finals) == 200 and all(f.state == pb.IMPORT_STATE_COMPLETED and f.created == 3000 for f in finals)


def test_sigterm_drains_and_the_import_resumes_after_restart(fresh_importd, tmp_path):
    import generated
    data_dir = tmp_path / "data-restart"
    server = fresh_importd(data_dir=data_dir)
    client = server.client()
    path = str(tmp_path / "restart.csv")
    counts = generated.generate(80_000, path, seed=5)
    job = client.upload(path)
    for update in client.watch(job.id, timeout=60):
        if update.state == pb.IMPORT_STATE_RUNNING and update.processed_rows >= 5000:
            break
    started = time.time()
    assert server.stop() == 0
    assert time.time() - started < 12
    assert "stopped" in server.log()
    server = fresh_importd(data_dir=data_dir)
    client = server.client()
    done = client.wait(job.id)
    assert done.state == pb.IMPORT_STATE_COMPLETED
    assert (done.processed_rows, done.created) == (counts["rows"], counts["clean"])
    assert "resuming from its checkpoint" in server.log()


def test_tls(fresh_importd, tmp_path):
    import subprocess
    for args in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=ca"],
                 ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]):
        subprocess.run(["openssl"] + args, cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    subprocess.run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf"], cwd=tmp_path, check=True, capture_output=True)
    server = fresh_importd("--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.key"))
    client = server.client(root_certificates=(tmp_path / "ca.pem").read_bytes())
    assert client.call("GetImportTemplate", pb.GetImportTemplateRequest()).csv.startswith(b"external_id,")
    plain = server.client(options=[("grpc.max_reconnect_backoff_ms", 200)])
    assert code_of(plain.call, "GetImportTemplate", pb.GetImportTemplateRequest(), timeout=3).code() in (
        grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_a_client_dying_mid_upload_leaves_nothing(importd):
    client = importd.client()
    before = len(client.call("ListImports", pb.ListImportsRequest(page_size=1000)).imports)
    sent = threading.Event()

    def requests():
        yield pb.UploadContactsRequest(options=pb.UploadOptions(file_name="dies.csv"))
        yield pb.UploadContactsRequest(chunk=b"first_name,last_name,email\n")
        for i in range(100000):
            yield pb.UploadContactsRequest(chunk=b"A,B,a%d@example.org\n" % i * 100)
            if i == 20:
                sent.set()

    future = client.stub.UploadContacts.future(requests(), metadata=client.metadata)
    sent.wait(10)
    future.cancel()
    time.sleep(0.5)
    assert len(client.call("ListImports", pb.ListImportsRequest(page_size=1000)).imports) == before
    spool = os.listdir(os.path.join(importd.data_dir, "spool"))
    assert not any(name.endswith(".partial") for name in spool)
    assert "refused upload \"dies.csv\"" in importd.log()


def test_ipv6_loopback(fresh_importd):
    import socket
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server = fresh_importd("--listen", "[::1]:0")
    assert server.address.startswith("[::1]:")
    assert server.client().call("GetImportTemplate", pb.GetImportTemplateRequest()).fields
