"""grpc-encoding: gzip on the wire, frame by frame (raw HTTP/2 with hpack), so
what is compressed and what is refused is seen, not assumed."""
import gzip
import json
import struct

import generated
from importd_protos import test_pb2
from test_importctl import importctl
from test_transport_abuse import DATA, END_HEADERS, END_STREAM, HEADERS, connect, frame, read_frames, response_headers

import hpack

ECHO = "/rpctest.v1.TestService/Echo"


def headers(encoding=None, accept=None):
    fields = [(":method", "POST"), (":scheme", "http"), (":path", ECHO), (":authority", "localhost"),
              ("content-type", "application/grpc"), ("te", "trailers")]
    if encoding:
        fields.append(("grpc-encoding", encoding))
    if accept:
        fields.append(("grpc-accept-encoding", accept))
    return hpack.Encoder().encode(fields)


def message(payload, compressed):
    return struct.pack(">BI", 1 if compressed else 0, len(payload)) + payload


def call(port, body, encoding=None, accept=None):
    """One Echo call; returns (headers and trailers, the response's DATA bytes)."""
    sock = connect(port)
    chunks = [body[i:i + 16384] for i in range(0, len(body), 16384)]  # the default SETTINGS_MAX_FRAME_SIZE
    data = b"".join(frame(DATA, END_STREAM if i == len(chunks) - 1 else 0, 1, c) for i, c in enumerate(chunks))
    sock.sendall(frame(HEADERS, END_HEADERS, 1, headers(encoding, accept)) + data)
    frames = read_frames(sock, lambda fs: any(k == HEADERS and s == 1 and f & END_STREAM for k, f, s, _ in fs))
    sock.close()
    data = b"".join(p for k, _, s, p in frames if k == DATA and s == 1)
    return response_headers(frames, 1), data


def test_a_gzip_request_is_inflated_and_answered_in_gzip(rpctest_server):
    request = test_pb2.EchoRequest(message="compressed", payload=b"\0" * 100_000).SerializeToString()
    fields, data = call(rpctest_server.port, message(gzip.compress(request), True), "gzip", "identity,deflate,gzip")
    assert fields["grpc-status"] == "0", fields
    assert fields["grpc-encoding"] == "gzip"
    flag, length = struct.unpack(">BI", data[:5])
    assert flag == 1 and length == len(data) - 5 and length < 1000, "the 100 kB response went compressed"
    response = test_pb2.EchoResponse.FromString(gzip.decompress(data[5:]))
    assert response.message == "compressed" and response.payload == b"\0" * 100_000


def test_gzip_responses_only_when_the_client_accepts_them(rpctest_server):
    request = test_pb2.EchoRequest(payload=b"\0" * 10_000).SerializeToString()
    fields, data = call(rpctest_server.port, message(gzip.compress(request), True), "gzip", "identity")
    assert fields["grpc-status"] == "0" and "grpc-encoding" not in fields
    assert data[0] == 0 and len(data) > 10_000


def test_an_unknown_encoding_is_unimplemented_naming_what_is_accepted(rpctest_server):
    fields, _ = call(rpctest_server.port, message(b"\x01\x02", True), "br")
    assert fields["grpc-status"] == "12", fields
    assert "gzip" in fields["grpc-accept-encoding"].split(",")


def test_a_zip_bomb_is_refused_without_inflating_it(rpctest_server):
    """32 MiB of zeros is about 32 kB of gzip; the limit is 4 MiB, and inflating stops there."""
    bomb = gzip.compress(test_pb2.EchoRequest(payload=b"\0" * (32 << 20)).SerializeToString())
    assert len(bomb) < 60_000
    fields, _ = call(rpctest_server.port, message(bomb, True), "gzip")
    assert fields["grpc-status"] == "8", fields
    assert "inflates past" in fields["grpc-message"]


def test_a_compressed_message_without_an_encoding_is_refused(rpctest_server):
    request = test_pb2.EchoRequest(message="x").SerializeToString()
    fields, _ = call(rpctest_server.port, message(gzip.compress(request), True))
    assert fields["grpc-status"] == "13" and "no grpc-encoding" in fields["grpc-message"]


def test_corrupt_gzip_is_internal(rpctest_server):
    fields, _ = call(rpctest_server.port, message(b"\x1f\x8b not really gzip", True), "gzip")
    assert fields["grpc-status"] == "13" and "decompress" in fields["grpc-message"]


def test_importctl_upload_compress_imports_the_same_rows(importd, tmp_path):
    """`importctl upload --compress` sends gzip (the server inflates it within its
    limits) and the import is the same as without it."""
    path = str(tmp_path / "contacts.csv")
    counts = generated.generate(3000, path, 7)
    results = []
    for extra in (["--compress"], []):
        done = importctl("upload", path, "--validate-only", "--watch", "--json", *extra, server=importd)
        assert done.returncode == 0, done.stderr
        final = [line for line in done.stdout.splitlines() if '"state"' in line][-1]
        results.append(final)
    compressed, plain = (json.loads(r) for r in results)
    assert compressed["state"] == plain["state"] == "IMPORT_STATE_COMPLETED"
    assert compressed["total_rows"] == plain["total_rows"] == counts["rows"]
    assert compressed["failed"] == plain["failed"] == counts["rows"] - counts["clean"]
