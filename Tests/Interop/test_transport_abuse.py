"""Raw HTTP/2 against the Swift server: what a non-gRPC or hostile peer gets.
Frames are built by hand (hpack for header blocks), so nothing smooths them over."""
import socket
import struct
import subprocess
import time

import hpack
import pytest

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY, CONTINUATION = 0, 1, 3, 4, 7, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
ENHANCE_YOUR_CALM = 0xB


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
    return sock


def read_frames(sock, until, timeout=10):
    """Reads frames until `until(frames)` is true or the socket closes."""
    sock.settimeout(timeout)
    buffer = b""
    frames = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            data = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not data:
            break
        buffer += data
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            kind, flags = buffer[3], buffer[4]
            stream = int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
            frames.append((kind, flags, stream, buffer[9:9 + length]))
            buffer = buffer[9 + length:]
        if until(frames):
            break
    return frames


def request_headers(path="/rpctest.v1.TestService/Echo", content_type="application/grpc", method="POST"):
    return hpack.Encoder().encode([
        (":method", method), (":scheme", "http"), (":path", path), (":authority", "localhost"),
        ("content-type", content_type), ("te", "trailers"),
    ])


def response_headers(frames, stream):
    decoder = hpack.Decoder()
    fields = []
    for kind, flags, sid, payload in frames:
        if kind == HEADERS and sid == stream:
            fields += [(n.decode() if isinstance(n, bytes) else n, v.decode() if isinstance(v, bytes) else v)
                       for n, v in decoder.decode(payload)]
    return dict(fields)


def goaway_code(frames):
    for kind, _, _, payload in frames:
        if kind == GOAWAY:
            return struct.unpack(">I", payload[4:8])[0]
    return None


def test_non_grpc_content_type_is_415(rpctest_server):
    sock = connect(rpctest_server.port)
    sock.sendall(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_headers(content_type="application/json")))
    frames = read_frames(sock, lambda fs: any(k == HEADERS and s == 1 for k, _, s, _ in fs))
    headers = response_headers(frames, 1)
    assert headers[":status"] == "415"
    assert headers["grpc-status"] == "3"
    sock.close()


def test_non_post_is_405(rpctest_server):
    sock = connect(rpctest_server.port)
    sock.sendall(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_headers(method="GET")))
    frames = read_frames(sock, lambda fs: any(k == HEADERS and s == 1 for k, _, s, _ in fs))
    assert response_headers(frames, 1)[":status"] == "405"
    sock.close()


def test_unknown_method_is_trailers_only_unimplemented(rpctest_server):
    sock = connect(rpctest_server.port)
    sock.sendall(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_headers(path="/no.Such/Method")))
    frames = read_frames(sock, lambda fs: any(k == HEADERS and s == 1 for k, _, s, _ in fs))
    headers_frames = [(k, f) for k, f, s, _ in frames if k == HEADERS and s == 1]
    assert len(headers_frames) == 1 and headers_frames[0][1] & END_STREAM, "one HEADERS frame ends the stream"
    headers = response_headers(frames, 1)
    assert headers[":status"] == "200" and headers["grpc-status"] == "12"
    sock.close()


def test_rapid_reset_gets_goaway_enhance_your_calm(rpctest_server):
    sock = connect(rpctest_server.port)
    block = request_headers(path="/rpctest.v1.TestService/Echo")
    burst = b"".join(frame(HEADERS, END_HEADERS, sid, block) + frame(RST_STREAM, 0, sid, struct.pack(">I", 8))
                     for sid in range(1, 2 * 3000, 2))
    try:
        sock.sendall(burst)
    except (BrokenPipeError, ConnectionResetError):
        pass
    frames = read_frames(sock, lambda fs: goaway_code(fs) is not None)
    assert goaway_code(frames) == ENHANCE_YOUR_CALM
    sock.close()


def test_cancelling_many_streams_that_lived_a_while_keeps_the_connection(rpctest_server):
    # A dashboard closing a view of many watches resets them all at once. That
    # is not rapid reset (those streams lived): the connection, and whatever
    # else runs on it, stays.
    sock = connect(rpctest_server.port)
    block = request_headers(path="/rpctest.v1.TestService/Collect")
    streams = list(range(1, 2 * 1500, 2))
    sock.sendall(b"".join(frame(HEADERS, END_HEADERS, sid, block) for sid in streams))
    time.sleep(1.5)
    sock.sendall(b"".join(frame(RST_STREAM, 0, sid, struct.pack(">I", 8)) for sid in streams))
    echo = streams[-1] + 2
    sock.sendall(frame(HEADERS, END_HEADERS, echo, request_headers()) + frame(DATA, END_STREAM, echo, bytes(5)))
    frames = read_frames(sock, lambda fs: goaway_code(fs) is not None or "grpc-status" in response_headers(fs, echo))
    assert goaway_code(frames) is None, "no GOAWAY"
    assert response_headers(frames, echo).get("grpc-status") == "0", "a new call on the same connection is served"
    sock.close()


def test_continuation_flood_gets_goaway_enhance_your_calm(rpctest_server):
    sock = connect(rpctest_server.port)
    block = request_headers()
    sock.sendall(frame(HEADERS, 0, 1, block[:4]))
    try:
        for _ in range(100):
            sock.sendall(frame(CONTINUATION, 0, 1, b""))
    except (BrokenPipeError, ConnectionResetError):
        pass
    frames = read_frames(sock, lambda fs: goaway_code(fs) is not None)
    assert goaway_code(frames) == ENHANCE_YOUR_CALM
    sock.close()


@pytest.mark.parametrize("fresh_rpctest_server", [["--handshake-timeout-ms", "1000"]], indirect=True)
def test_silent_connection_is_closed_after_the_handshake_timeout(fresh_rpctest_server):
    # A peer that connects and sends nothing is dropped, not kept forever.
    sock = socket.create_connection(("127.0.0.1", fresh_rpctest_server.port), timeout=20)
    started = time.time()
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pytest.fail("the server kept a silent connection open for 20 s")
    assert 0.5 < time.time() - started < 5
    sock.close()


def test_oversized_header_list_is_refused(rpctest_server):
    sock = connect(rpctest_server.port)
    big = hpack.Encoder().encode([
        (":method", "POST"), (":scheme", "http"), (":path", "/rpctest.v1.TestService/Echo"),
        (":authority", "localhost"), ("content-type", "application/grpc"), ("x-big", "y" * 15000),
        ("x-big-2", "z" * 15000),
    ])
    # Split across CONTINUATION frames within the flood limit.
    pieces = [big[i:i + 8000] for i in range(0, len(big), 8000)]
    payload = frame(HEADERS, 0, 1, pieces[0])
    for i, piece in enumerate(pieces[1:]):
        payload += frame(CONTINUATION, END_HEADERS if i == len(pieces) - 2 else 0, 1, piece)
    sock.sendall(payload + frame(DATA, END_STREAM, 1, b"\x00\x00\x00\x00\x00"))
    frames = read_frames(sock, lambda fs: any(k in (RST_STREAM, GOAWAY) for k, _, _, _ in fs))
    assert any(k == RST_STREAM and s == 1 for k, _, s, _ in frames) or goaway_code(frames) is not None
    sock.close()


def test_nghttp_client_sees_grpc_trailers(rpctest_server):
    """nghttp (nghttp2's own client) sees a Trailers-Only answer for an empty POST."""
    result = subprocess.run(
        ["nghttp", "-v", "-H", ":method: POST", "-H", "content-type: application/grpc", "-H", "te: trailers",
         "http://127.0.0.1:%d/no.Such/Method" % rpctest_server.port],
        capture_output=True, text=True, timeout=20)
    assert "grpc-status: 12" in result.stdout
