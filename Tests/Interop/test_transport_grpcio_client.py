"""grpcio (the reference C-core client) against the Swift server: the wire is
real gRPC."""
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from importd_protos import test_grpc, test_pb2


def stub(server, options=None):
    channel = grpc.insecure_channel("127.0.0.1:%d" % server.port, options=options or [])
    return channel, test_grpc.TestServiceStub(channel)


def test_unary_with_metadata_both_ways(rpctest_server):
    channel, s = stub(rpctest_server)
    response, call = s.Echo.with_call(
        test_pb2.EchoRequest(message="héllo", payload=b"\x00\xff", echo_metadata=["x-text", "x-blob-bin"]),
        metadata=[("x-text", "a b c"), ("x-blob-bin", b"\x00\x01\xfe")])
    assert response.message == "héllo" and response.payload == b"\x00\xff"
    assert ("x-text", "a b c") in [(m.key, m.value) for m in call.initial_metadata()]
    assert ("x-blob-bin", b"\x00\x01\xfe") in [(m.key, m.value) for m in call.trailing_metadata()]
    channel.close()


def test_error_status_and_percent_encoded_message(rpctest_server):
    channel, s = stub(rpctest_server)
    with pytest.raises(grpc.RpcError) as e:
        s.Echo(test_pb2.EchoRequest(fail_code=9, fail_message="état: 100% wrong\nnext line"))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == "état: 100% wrong\nnext line"
    channel.close()


def test_unknown_method_is_unimplemented(rpctest_server):
    channel = grpc.insecure_channel("127.0.0.1:%d" % rpctest_server.port)
    call = channel.unary_unary("/rpctest.v1.TestService/Nope")
    with pytest.raises(grpc.RpcError) as e:
        call(b"")
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    channel.close()


def test_client_stream_of_100_megabytes_in_small_chunks(rpctest_server):
    channel, s = stub(rpctest_server)
    piece = bytes(range(256)) * 64  # 16 KiB
    count = 100 * 1024 * 1024 // len(piece)
    digest = hashlib.sha256()
    for _ in range(count):
        digest.update(piece)

    def chunks():
        for i in range(count):
            yield test_pb2.Chunk(data=piece, index=i)

    started = time.time()
    summary = s.Collect(chunks(), timeout=120)
    elapsed = time.time() - started
    assert summary.messages == count
    assert summary.bytes == 100 * 1024 * 1024
    assert summary.sha256 == digest.hexdigest()
    print("100 MB client stream: %.2f s, %.0f MB/s" % (elapsed, 100 / elapsed))
    channel.close()


def test_server_stream_of_100000_messages(rpctest_server):
    channel, s = stub(rpctest_server)
    started = time.time()
    indexes = [chunk.index for chunk in s.Generate(test_pb2.GenerateRequest(count=100_000, size=8), timeout=120)]
    elapsed = time.time() - started
    assert indexes == list(range(100_000))
    print("100,000-message server stream: %.2f s" % elapsed)
    channel.close()


def test_bidirectional_stream_in_order(rpctest_server):
    channel, s = stub(rpctest_server)
    replies = [r.message for r in s.Chat(iter([test_pb2.EchoRequest(message=str(i)) for i in range(1000)]))]
    assert replies == [str(i) for i in range(1000)]
    channel.close()


def test_deadline_exceeded(rpctest_server):
    channel, s = stub(rpctest_server)
    started = time.time()
    with pytest.raises(grpc.RpcError) as e:
        s.Echo(test_pb2.EchoRequest(sleep_ms=5000), timeout=0.3)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.time() - started < 2
    # The server is fine afterwards.
    assert s.Echo(test_pb2.EchoRequest(message="ok")).message == "ok"
    channel.close()


def test_cancellation_mid_stream(rpctest_server):
    channel, s = stub(rpctest_server)
    responses = s.Generate(test_pb2.GenerateRequest(count=1_000_000, size=1000, interval_ms=1))
    received = 0
    for _ in responses:
        received += 1
        if received == 10:
            responses.cancel()
            break
    with pytest.raises(grpc.RpcError) as e:
        next(responses)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    # Cancelling one client stream mid-upload too.
    future = s.Collect.future(iter([test_pb2.Chunk(data=b"x" * 1000)] * 100000))
    time.sleep(0.05)
    future.cancel()
    assert future.cancelled() or future.exception() is not None
    assert s.Echo(test_pb2.EchoRequest(message="still here")).message == "still here"
    channel.close()


def test_oversized_message_is_resource_exhausted(rpctest_server):
    channel, s = stub(rpctest_server, options=[("grpc.max_send_message_length", 64 << 20)])
    with pytest.raises(grpc.RpcError) as e:
        s.Echo(test_pb2.EchoRequest(payload=b"x" * (4 * 1024 * 1024 + 1)))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than the limit" in e.value.details()
    assert s.Echo(test_pb2.EchoRequest(message="ok")).message == "ok"
    channel.close()


def test_1000_concurrent_streams_over_10_connections(rpctest_server):
    # Separate channels (no subchannel sharing) so there really are 10 connections.
    channels = [grpc.insecure_channel("127.0.0.1:%d" % rpctest_server.port, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(10)]
    stubs = [test_grpc.TestServiceStub(c) for c in channels]
    barrier = threading.Barrier(1000, timeout=60)

    def one(i):
        s = stubs[i % 10]
        # A streaming call that stays open until all 1,000 are open at once.
        def requests():
            yield test_pb2.EchoRequest(message="first %d" % i)
            barrier.wait()
            yield test_pb2.EchoRequest(message="second %d" % i)
        return [r.message for r in s.Chat(requests(), timeout=60)]

    with ThreadPoolExecutor(max_workers=1000) as pool:
        results = list(pool.map(one, range(1000)))
    assert results == [["first %d" % i, "second %d" % i] for i in range(1000)]
    for c in channels:
        c.close()


def test_health_check_and_watch(rpctest_server):
    channel = grpc.insecure_channel("127.0.0.1:%d" % rpctest_server.port)
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as e:
        health.Check(health_pb2.HealthCheckRequest(service="nope"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    watch = health.Watch(health_pb2.HealthCheckRequest())
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()
    channel.close()


def test_graceful_shutdown_finishes_in_flight_calls(fresh_rpctest_server):
    channel, s = stub(fresh_rpctest_server)
    responses = s.Generate(test_pb2.GenerateRequest(count=40, size=10, interval_ms=25))
    first = next(responses)
    assert first.index == 0
    fresh_rpctest_server.proc.stdin.close()  # asks the server to drain
    rest = [c.index for c in responses]
    assert rest == list(range(1, 40))
    assert fresh_rpctest_server.proc.wait(timeout=10) == 0
    channel.close()
