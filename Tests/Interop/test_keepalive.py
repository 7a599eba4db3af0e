"""Keepalive both ways (gRPC's A8/A9), on raw HTTP/2: a client pinging too often
is told to calm down, and a client that stops answering our pings is closed."""
import struct
import time

from test_transport_abuse import ACK, GOAWAY, SETTINGS, connect, frame, read_frames

PING = 6


def goaway(frames):
    for kind, _, _, payload in frames:
        if kind == GOAWAY:
            return struct.unpack(">I", payload[4:8])[0], payload[8:]
    return None


def test_pinging_too_often_gets_goaway_too_many_pings(rpctest_server):
    sock = connect(rpctest_server.port)
    # No call open: pings this close together are strikes; the third one too many.
    for i in range(4):
        sock.sendall(frame(PING, 0, 0, struct.pack(">Q", i)))
    frames = read_frames(sock, lambda fs: goaway(fs) is not None)
    sock.close()
    assert goaway(frames) == (0xB, b"too_many_pings")
    assert sum(1 for k, f, _, _ in frames if k == PING and f & ACK) >= 1, "the first pings were answered"


def test_a_client_that_stops_answering_pings_is_closed(fresh_importd):
    server = fresh_importd("--keepalive-time", "1s", "--keepalive-timeout", "1s")
    sock = connect(server.server.port)
    sock.sendall(frame(SETTINGS, ACK, 0))
    start = time.monotonic()
    # Read everything (our PING among it) and answer nothing; the server closes.
    frames = read_frames(sock, lambda fs: False, timeout=10)
    elapsed = time.monotonic() - start
    sock.close()
    assert any(k == PING and not f & ACK for k, f, _, _ in frames), "the server pinged the quiet client"
    assert elapsed < 6, "closed after %.1f s" % elapsed
    assert server.stop() == 0


def test_a_client_that_answers_pings_stays(fresh_importd):
    server = fresh_importd("--keepalive-time", "1s", "--keepalive-timeout", "1s")
    sock = connect(server.server.port)
    sock.sendall(frame(SETTINGS, ACK, 0))
    sock.settimeout(0.2)
    pings = 0
    end = time.monotonic() + 4
    buffer = b""
    closed = False
    while time.monotonic() < end:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            closed = True
            break
        buffer += data
        while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
            length = int.from_bytes(buffer[:3], "big")
            kind, flags, payload = buffer[3], buffer[4], buffer[9:9 + length]
            buffer = buffer[9 + length:]
            if kind == PING and not flags & ACK:
                pings += 1
                sock.sendall(frame(PING, ACK, 0, payload))
    sock.close()
    assert not closed, "a client that answers is kept"
    assert pings >= 2, "pinged %d times in 4 s with --keepalive-time 1s" % pings
    assert server.stop() == 0
