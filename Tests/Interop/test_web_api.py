"""The web listener's API, as curl and stock clients see it: the Connect
protocol (unary and server streaming, JSON and proto), gRPC-Web (binary and
text), upload sessions, the same tokens, scopes and status codes as the gRPC
port, and the page's security headers."""
import base64
import json
import socket
import subprocess
import time
import urllib.request

import pytest

import generated
import web
from importd_protos import imports_pb2 as pb


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import Importd
    server = Importd(tmp_path_factory.mktemp("web") / "data", "--web-listen", "127.0.0.1:0")
    server.web = web.web_url(server)
    yield server
    assert server.stop() == 0


def upload(server, path, token=None, chunk=1 << 20, **options):
    """Streams a file through an upload session; returns (status, body) of the finish."""
    token = token or server.token
    auth = {"Authorization": "Bearer " + token}
    options.setdefault("fileName", path.split("/")[-1])
    status, _, body = web.request(server.web + "/web/v1/uploads", json.dumps(options).encode(), dict(auth, **{"Content-Type": "application/json"}))
    if status != 200:
        return status, json.loads(body)
    session = json.loads(body)["uploadId"]
    with open(path, "rb") as f:
        while True:
            piece = f.read(chunk)
            if not piece:
                break
            status, _, body = web.request(server.web + "/web/v1/uploads/" + session, piece, auth, method="PUT")
            if status != 200:
                return status, json.loads(body)
    status, _, body = web.request(server.web + "/web/v1/uploads/%s/finish" % session, b"", auth)
    return status, json.loads(body)


def wait_state(server, import_id, states, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, _, job = web.connect_unary(server.web, "GetImport", {"importId": import_id}, server.token)
        if job.get("state") in states:
            return job
        time.sleep(0.1)
    raise AssertionError("import %s never reached %s: %s" % (import_id, states, job))


def test_curl_connect_json_unary_as_the_docs_show_it(server):
    # The command from the docs, word for word but the address.
    result = subprocess.run(["curl", "-s", "-H", "Content-Type: application/json", "-H", "Authorization: Bearer " + server.token,
                             "-d", "{}", server.web + "/softrip.marketing.imports.v1.ImportService/ListImports"],
                            capture_output=True, text=True, timeout=30, check=True)
    assert isinstance(json.loads(result.stdout), dict)
    # Without a token: 401 and Connect's error JSON.
    result = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "-H", "Content-Type: application/json", "-d", "{}",
                             server.web + "/softrip.marketing.imports.v1.ImportService/ListImports"],
                            capture_output=True, text=True, timeout=30, check=True)
    body, code = result.stdout.rsplit("\n", 1)
    assert code == "401"
    assert json.loads(body)["code"] == "unauthenticated"


def test_upload_session_streams_a_file_and_json_follows_proto3_mapping(server, tmp_path):
    path = str(tmp_path / "contacts.csv")
    counts = generated.generate(3000, path, 11)
    status, campaign = web.connect_unary(server.web, "CreateCampaign", {"name": "Web spring", "code": "WEBSPRING"}, server.token)[::2]
    assert status == 200 and campaign["id"].startswith("cmp_")
    status, job = upload(server, path, chunk=64 << 10, kind="CONTACT_KIND_LEAD", originCampaignId=campaign["id"],
                         onDuplicate="DUPLICATE_POLICY_SKIP")
    assert status == 200, job
    assert job["state"] == "IMPORT_STATE_QUEUED"
    assert job["totalRows"] == "3000"  # int64 as a string
    assert job["kind"] == "CONTACT_KIND_LEAD"
    job = wait_state(server, job["id"], {"IMPORT_STATE_COMPLETED"})
    assert int(job["failed"]) == counts["rows"] - counts["clean"]
    assert int(job["created"]) == counts["clean"]
    # The same import through the gRPC port agrees, field for field.
    grpc_job = server.client().call("GetImport", pb.GetImportRequest(import_id=job["id"]))
    assert grpc_job.created == int(job["created"]) and grpc_job.origin_campaign_id == campaign["id"]


def test_a_refused_header_is_invalid_argument_with_bad_request_details(server, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("nope,email\n1,a@example.com\n")
    status, error = upload(server, str(path))
    assert status == 400
    assert error["code"] == "invalid_argument"
    detail = error["details"][0]
    assert detail["type"] == "google.rpc.BadRequest"
    from google.rpc import error_details_pb2
    decoded = error_details_pb2.BadRequest.FromString(base64.b64decode(detail["value"] + "=" * (-len(detail["value"]) % 4)))
    fields = {v.field for v in decoded.field_violations}
    assert "nope" in fields and "first_name" in fields
    assert {v["field"] for v in detail["debug"]["fieldViolations"]} == fields


def test_scopes_and_sessions_belong_to_their_token(server, tmp_path):
    reader = server.new_token("read", "web-reader")
    path = tmp_path / "one.csv"
    path.write_text("email,first_name,last_name\nr@example.com,R,S\n")
    status, error = upload(server, str(path), token=reader)
    assert status == 403 and error["code"] == "permission_denied"
    # A session another token opened is not theirs to feed.
    auth = {"Authorization": "Bearer " + server.token, "Content-Type": "application/json"}
    _, _, body = web.request(server.web + "/web/v1/uploads", b'{"fileName":"x.csv"}', auth)
    session = json.loads(body)["uploadId"]
    status, _, body = web.request(server.web + "/web/v1/uploads/" + session, b"email\n", {"Authorization": "Bearer " + reader}, method="PUT")
    assert status == 403 and json.loads(body)["code"] == "permission_denied"
    status, _, _ = web.request(server.web + "/web/v1/uploads/" + session, b"", {"Authorization": "Bearer " + server.token}, method="DELETE")
    assert status == 200
    status, _, body = web.request(server.web + "/web/v1/uploads/u-nope", b"x", {"Authorization": "Bearer " + server.token}, method="PUT")
    assert status == 404 and json.loads(body)["code"] == "not_found"


def test_connect_server_streaming_json_and_an_end_of_stream_error(server, tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("email,first_name,last_name\nw1@example.com,W,One\nw2@example.com,W,Two\n")
    status, job = upload(server, str(path))
    assert status == 200
    wait_state(server, job["id"], {"IMPORT_STATE_COMPLETED"})
    headers = {"Content-Type": "application/connect+json", "Authorization": "Bearer " + server.token}
    status, response_headers, body = web.request(server.web + web.SERVICE + "WatchImport",
                                                 web.envelope(0, json.dumps({"importId": job["id"]}).encode()), headers)
    assert status == 200 and response_headers["Content-Type"] == "application/connect+json"
    frames = web.envelopes(body)
    assert frames[0][0] == 0 and json.loads(frames[0][1])["state"] == "IMPORT_STATE_COMPLETED"
    assert frames[-1][0] == 2
    end = json.loads(frames[-1][1])
    assert "error" not in end and end["metadata"]["x-request-id"][0].startswith("r-")
    # An unknown import: HTTP 200 and the error in the end-of-stream message.
    status, _, body = web.request(server.web + web.SERVICE + "WatchImport", web.envelope(0, b'{"importId":"imp_999999"}'), headers)
    frames = web.envelopes(body)
    assert status == 200 and len(frames) == 1 and frames[0][0] == 2
    assert json.loads(frames[0][1])["error"]["code"] == "not_found"


def test_watch_imports_opens_at_once_and_delivers_changes(server, tmp_path):
    host, port = server.web.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    body = web.envelope(0, b"{}")
    sock.sendall(("POST %sWatchImports HTTP/1.1\r\nHost: x\r\nContent-Type: application/connect+json\r\n"
                  "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (web.SERVICE, server.token, len(body))).encode() + body)
    # The status line comes before any message: the client knows the watch is open.
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200") and b"Transfer-Encoding: chunked" in head
    path = tmp_path / "three.csv"
    path.write_text("email,first_name,last_name\nw3@example.com,W,Three\n")
    status, job = upload(server, str(path))
    assert status == 200
    data = head.split(b"\r\n\r\n", 1)[1]
    deadline = time.time() + 20
    while job["id"].encode() not in data and time.time() < deadline:
        data += sock.recv(65536)
    assert job["id"].encode() in data
    sock.close()
    # A watcher that went away leaves the server serving.
    assert web.connect_unary(server.web, "ListImports", {}, server.token)[0] == 200


def test_connect_proto_codec(server):
    headers = {"Content-Type": "application/proto", "Authorization": "Bearer " + server.token}
    status, response_headers, body = web.request(server.web + web.SERVICE + "GetImportTemplate", b"", headers)
    assert status == 200 and response_headers["Content-Type"] == "application/proto"
    template = pb.ImportTemplate.FromString(body)
    assert template.csv.startswith(b"external_id,") and any(f.required for f in template.fields)
    assert response_headers["importd-token-scope"] == "admin"


@pytest.mark.parametrize("text", [False, True])
def test_grpc_web_binary_and_text(server, text):
    frame = web.envelope(0, pb.ListCampaignsRequest(page_size=5).SerializeToString())
    content_type = "application/grpc-web-text" if text else "application/grpc-web+proto"
    body = base64.b64encode(frame) if text else frame
    headers = {"Content-Type": content_type, "Authorization": "Bearer " + server.token, "X-Grpc-Web": "1"}
    status, response_headers, data = web.request(server.web + web.SERVICE + "ListCampaigns", body, headers)
    assert status == 200 and response_headers["Content-Type"].startswith(content_type.replace("+proto", ""))
    if text:
        data = b"".join(base64.b64decode(piece + b"=") for piece in data.split(b"=") if piece)
    frames = web.envelopes(data)
    assert frames[0][0] == 0
    pb.ListCampaignsResponse.FromString(frames[0][1])
    assert frames[-1][0] == 0x80
    trailers = dict(line.split(":", 1) for line in frames[-1][1].decode().split("\r\n") if line)
    assert trailers["grpc-status"] == "0"
    # No token: a Trailers-Only answer, the status in the headers.
    status, response_headers, data = web.request(server.web + web.SERVICE + "ListCampaigns", body, {"Content-Type": content_type})
    assert status == 200 and response_headers["grpc-status"] == "16" and data == b""


def test_bad_requests_get_clear_answers(server):
    auth = {"Authorization": "Bearer " + server.token}
    status, _, body = web.request(server.web + web.SERVICE + "ListImports", b'{"pageSize": "many"}', dict(auth, **{"Content-Type": "application/json"}))
    assert status == 400 and json.loads(body)["code"] == "invalid_argument" and "pageSize" in json.loads(body)["message"]
    status, _, body = web.request(server.web + web.SERVICE + "ListImports", b"{}", dict(auth, **{"Content-Type": "text/plain"}))
    assert status == 415
    status, _, body = web.request(server.web + "/nope.Service/Call", b"{}", dict(auth, **{"Content-Type": "application/json"}))
    assert status == 501 and json.loads(body)["code"] == "unimplemented"
    # Too large a body is refused from its Content-Length, before it is read.
    host, port = server.web.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(("POST %sListImports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                      % (web.SERVICE, 5 << 20)).encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")
    status, _, body = web.request(server.web + web.SERVICE + "ListImports", b"{}",
                                  dict(auth, **{"Content-Type": "application/json", "Content-Encoding": "br"}))
    assert status == 501 and json.loads(body)["code"] == "unimplemented"


def test_the_page_is_served_with_a_strict_policy_and_no_cors(server):
    status, headers, body = web.request(server.web + "/", method="GET")
    assert status == 200 and b"<script src=\"/app.js\"" in body and b"<script>" not in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = web.request(server.web + "/app.js", method="GET")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    # No CORS unless configured: a preflight from elsewhere is refused, answers carry no allow header.
    status, _, _ = web.request(server.web + web.SERVICE + "ListImports", method="OPTIONS",
                               headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert status == 403
    _, headers, _ = web.request(server.web + web.SERVICE + "ListImports", b"{}",
                                {"Origin": "https://evil.example", "Content-Type": "application/json", "Authorization": "Bearer " + server.token})
    assert headers.get("Access-Control-Allow-Origin") is None


def test_cors_when_configured(fresh_importd):
    server = fresh_importd("--web-listen", "127.0.0.1:0", "--web-allowed-origin", "https://crm.example")
    base = web.web_url(server)
    status, headers, _ = web.request(base + web.SERVICE + "ListImports", method="OPTIONS",
                                     headers={"Origin": "https://crm.example", "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "authorization,content-type"})
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://crm.example"
    assert "authorization" in headers["Access-Control-Allow-Headers"]
    _, headers, _ = web.request(base + web.SERVICE + "ListImports", b"{}",
                                {"Origin": "https://crm.example", "Content-Type": "application/json", "Authorization": "Bearer " + server.token})
    assert headers["Access-Control-Allow-Origin"] == "https://crm.example"


def test_the_web_listener_serves_tls_with_the_same_certificate(fresh_importd, tmp_path):
    import ssl
    from test_operability import make_server_certificate
    make_server_certificate(tmp_path, "server")
    server = fresh_importd("--web-listen", "127.0.0.1:0", "--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.key"))
    base = web.web_url(server)
    assert base.startswith("https://")
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    request = urllib.request.Request(base + web.SERVICE + "ListCampaigns", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + server.token})
    with urllib.request.urlopen(request, context=context, timeout=15) as response:
        assert response.status == 200 and json.loads(response.read()) == {}
    # HTTP/1.1 over TLS: the listener offers no h2 (a browser would otherwise pick it).
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=15) as raw:
        alpn = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        alpn.set_alpn_protocols(["h2", "http/1.1"])
        with alpn.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() in (None, "http/1.1")


def test_browsers_that_go_away_leave_no_watch_behind(fresh_importd):
    """Watches over the web listener end when their connection does: the hub's
    subscriber count (importd_watchers) goes back to zero."""
    from test_metrics import admin_port, scrape, value
    server = fresh_importd("--web-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
    base = web.web_url(server)
    port = admin_port(server)
    host, web_port = base.split("//")[1].split(":")
    body = web.envelope(0, b"{}")
    sockets = []
    for _ in range(20):
        sock = socket.create_connection((host, int(web_port)), timeout=15)
        sock.sendall(("POST %sWatchImports HTTP/1.1\r\nHost: x\r\nContent-Type: application/connect+json\r\n"
                      "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (web.SERVICE, server.token, len(body))).encode() + body)
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200")
        sockets.append(sock)
    assert value(scrape(port), "importd_watchers") == 20
    for sock in sockets:
        sock.close()
    deadline = time.time() + 10
    while value(scrape(port), "importd_watchers") != 0 and time.time() < deadline:
        time.sleep(0.1)
    assert value(scrape(port), "importd_watchers") == 0
    # And the listener still serves.
    assert web.connect_unary(base, "ListImports", {}, server.token)[0] == 200
