"""The admin endpoint: /metrics parsed with prometheus_client's own parser,
values that move when calls are made and imports run; /healthz and /readyz."""
import re
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from importd_protos import imports_pb2 as pb


def admin_port(server):
    for _ in range(50):
        found = re.search(r"admin endpoint on 127\.0\.0\.1:(\d+)", server.log())
        if found:
            return int(found.group(1))
        time.sleep(0.1)
    raise AssertionError("no admin endpoint line in the log")


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as response:
            return response.status, response.headers.get("Content-Type"), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read().decode()


def scrape(port):
    status, content_type, text = get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values, name, **labels):
    return values.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_parse_and_move(fresh_importd):
    server = fresh_importd("--admin-listen", "127.0.0.1:0", "--import-interval", "1s")
    port = admin_port(server)
    before = scrape(port)
    method = "/softrip.marketing.imports.v1.ImportService/GetImportTemplate"
    client = server.client()
    for _ in range(3):
        client.call("GetImportTemplate", pb.GetImportTemplateRequest())
    job = client.upload(b"email,first_name,last_name\nm1@example.com,A,B\nnot-an-email,C,D\n", file_name="m.csv")
    final = client.wait(job.id)
    assert final.state == pb.IMPORT_STATE_COMPLETED
    try:
        client.call("GetImport", pb.GetImportRequest(import_id="imp_999"))
    except Exception:  # noqa: BLE001 - counted as NOT_FOUND below
        pass
    after = scrape(port)
    assert value(after, "importd_rpc_requests_total", method=method, code="OK") - value(before, "importd_rpc_requests_total", method=method, code="OK") == 3
    assert value(after, "importd_rpc_requests_total", method="/softrip.marketing.imports.v1.ImportService/GetImport", code="NOT_FOUND") == 1
    assert value(after, "importd_rpc_duration_seconds_count", method=method) >= 3
    assert value(after, "importd_rpc_duration_seconds_bucket", method=method, le="+Inf") >= 3
    assert value(after, "importd_imports", state="completed") == value(before, "importd_imports", state="completed") + 1
    assert value(after, "importd_rows", outcome="created") >= 1 and value(after, "importd_rows", outcome="failed") >= 1
    assert value(after, "importd_received_bytes_total") > value(before, "importd_received_bytes_total")
    assert value(after, "importd_sent_bytes_total") > value(before, "importd_sent_bytes_total")
    assert value(after, "importd_connections_open") >= 1
    assert value(after, "importd_disk_free_bytes") > 0
    # A limit hit: a health check bigger than the 1 KiB health requests may be.
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    channel = grpc.insecure_channel(server.address)
    try:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="x" * 2000), timeout=10)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    channel.close()
    assert value(scrape(port), "importd_limit_hits_total", limit="message_size") == 1
    client.close()


def test_health_and_readiness(fresh_importd):
    server = fresh_importd("--admin-listen", "127.0.0.1:0")
    port = admin_port(server)
    assert get(port, "/healthz")[0] == 200
    assert get(port, "/readyz")[0] == 200
    assert get(port, "/nothing")[0] == 404


def test_methods_no_handler_serves_share_one_series(fresh_importd):
    # The path is the client's choice: one series each would let a client grow
    # the server's memory (and every scrape) without bound.
    import grpc
    server = fresh_importd("--admin-listen", "127.0.0.1:0")
    port = admin_port(server)
    channel = grpc.insecure_channel(server.address)
    for i in range(5):
        call = channel.unary_unary("/no.such.Service/Method%d" % i, request_serializer=None, response_deserializer=None)
        try:
            call(b"", timeout=10)
            raise AssertionError("an unknown method answered")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    channel.close()
    after = scrape(port)
    assert value(after, "importd_rpc_requests_total", method="unknown", code="UNIMPLEMENTED") == 5
    assert value(after, "importd_rpc_duration_seconds_count", method="unknown") == 5
    assert not [key for key in after if any(v.startswith("/no.such") for _, v in key[1])]
    # Methods never called show no series (not zeros for every code).
    assert not [key for key in after if key[0] == "importd_rpc_requests_total" and ("code", "DATA_LOSS") in key[1]]
