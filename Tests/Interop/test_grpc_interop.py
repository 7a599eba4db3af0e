"""gRPC's own interop cases (doc/interop-test-descriptions.md), both ways:
grpcio's client against our interop-server, and our interop-client against a
grpcio TestService written here from the same descriptions. Plus gzip from a
grpcio client on every call kind."""
import subprocess
import threading
import time
from concurrent import futures

import grpc
import pytest

import servers
from interop_protos import empty_pb2, messages_pb2, test_grpc

CASES = ["empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
         "timeout_on_sleeping_server", "cancel_after_begin", "cancel_after_first_response", "custom_metadata",
         "status_code_and_message", "special_status_message", "unimplemented_method", "unimplemented_service"]

REQUEST_SIZES = [27182, 8, 1828, 45904]
RESPONSE_SIZES = [31415, 9, 2653, 58979]
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"


@pytest.fixture(scope="module")
def interop_server():
    server = servers.Process([servers.binary("interop-server"), "--port", "0"])
    yield server
    assert server.close() == 0


def payload(size):
    return messages_pb2.Payload(body=b"\0" * size)


def simple_request(**kwargs):
    return messages_pb2.SimpleRequest(response_size=314159, payload=payload(271828), **kwargs)


def streaming_request(response_size, payload_size, **kwargs):
    params = [messages_pb2.ResponseParameters(size=response_size)] if response_size is not None else []
    return messages_pb2.StreamingOutputCallRequest(response_parameters=params, payload=payload(payload_size), **kwargs)


# MARK: - grpcio's client, as gRPC's interop client runs each case

class Client:
    def __init__(self, port, compression=None):
        self.channel = grpc.insecure_channel("127.0.0.1:%d" % port, compression=compression)
        self.stub = test_grpc.TestServiceStub(self.channel)

    def empty_unary(self):
        assert self.stub.EmptyCall(empty_pb2.Empty(), timeout=10) == empty_pb2.Empty()

    def large_unary(self):
        response = self.stub.UnaryCall(simple_request(), timeout=10)
        assert response.payload.body == b"\0" * 314159

    def client_streaming(self):
        response = self.stub.StreamingInputCall(
            iter(messages_pb2.StreamingInputCallRequest(payload=payload(n)) for n in REQUEST_SIZES), timeout=10)
        assert response.aggregated_payload_size == 74922

    def server_streaming(self):
        request = messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=n) for n in RESPONSE_SIZES])
        sizes = [len(r.payload.body) for r in self.stub.StreamingOutputCall(request, timeout=10)]
        assert sizes == RESPONSE_SIZES

    def ping_pong(self):
        requests = Requests()
        responses = self.stub.FullDuplexCall(requests, timeout=10)
        for request_size, response_size in zip(REQUEST_SIZES, RESPONSE_SIZES):
            requests.put(streaming_request(response_size, request_size))
            assert len(next(responses).payload.body) == response_size
        requests.close()
        assert list(responses) == []

    def empty_stream(self):
        assert list(self.stub.FullDuplexCall(iter([]), timeout=10)) == []

    def timeout_on_sleeping_server(self):
        requests = Requests()
        responses = self.stub.FullDuplexCall(requests, timeout=0.001)
        requests.put(streaming_request(None, 27182))
        with pytest.raises(grpc.RpcError) as e:
            list(responses)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    def cancel_after_begin(self):
        future = self.stub.StreamingInputCall.future(Requests(), timeout=10)
        future.cancel()
        assert future.cancelled()
        with pytest.raises(grpc.FutureCancelledError):
            future.result()

    def cancel_after_first_response(self):
        requests = Requests()
        responses = self.stub.FullDuplexCall(requests, timeout=10)
        requests.put(streaming_request(31415, 27182))
        assert len(next(responses).payload.body) == 31415
        responses.cancel()
        with pytest.raises(grpc.RpcError) as e:
            next(responses)
        assert e.value.code() == grpc.StatusCode.CANCELLED

    def custom_metadata(self):
        metadata = ((ECHO_INITIAL, "test_initial_metadata_value"), (ECHO_TRAILING, b"\xab\xab\xab"))
        response, call = self.stub.UnaryCall.with_call(simple_request(), metadata=metadata, timeout=10)
        assert len(response.payload.body) == 314159
        assert (ECHO_INITIAL, "test_initial_metadata_value") in call.initial_metadata()
        assert (ECHO_TRAILING, b"\xab\xab\xab") in call.trailing_metadata()
        requests = Requests()
        responses = self.stub.FullDuplexCall(requests, metadata=metadata, timeout=10)
        requests.put(streaming_request(314159, 271828))
        assert len(next(responses).payload.body) == 314159
        requests.close()
        assert list(responses) == []
        assert (ECHO_INITIAL, "test_initial_metadata_value") in responses.initial_metadata()
        assert (ECHO_TRAILING, b"\xab\xab\xab") in responses.trailing_metadata()

    def _status_echo(self, message, full_duplex=True):
        status = messages_pb2.EchoStatus(code=2, message=message)
        with pytest.raises(grpc.RpcError) as e:
            self.stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNKNOWN and e.value.details() == message
        if full_duplex:
            with pytest.raises(grpc.RpcError) as e:
                list(self.stub.FullDuplexCall(iter([messages_pb2.StreamingOutputCallRequest(response_status=status)]), timeout=10))
            assert e.value.code() == grpc.StatusCode.UNKNOWN and e.value.details() == message

    def status_code_and_message(self):
        self._status_echo("test status message")

    def special_status_message(self):
        self._status_echo(SPECIAL_MESSAGE, full_duplex=False)

    def unimplemented_method(self):
        with pytest.raises(grpc.RpcError) as e:
            self.stub.UnimplementedCall(empty_pb2.Empty(), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED

    def unimplemented_service(self):
        stub = test_grpc.UnimplementedServiceStub(self.channel)
        with pytest.raises(grpc.RpcError) as e:
            stub.UnimplementedCall(empty_pb2.Empty(), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


class Requests:
    """A request iterator fed one message at a time (ping-pong)."""

    def __init__(self):
        self.items = []
        self.cv = threading.Condition()
        self.done = False

    def put(self, item):
        with self.cv:
            self.items.append(item)
            self.cv.notify()

    def close(self):
        with self.cv:
            self.done = True
            self.cv.notify()

    def __iter__(self):
        return self

    def __next__(self):
        with self.cv:
            while not self.items and not self.done:
                self.cv.wait()
            if self.items:
                return self.items.pop(0)
            raise StopIteration


@pytest.mark.parametrize("case", CASES)
def test_grpcio_client_against_interop_server(interop_server, case):
    client = Client(interop_server.port)
    try:
        getattr(client, case)()
    finally:
        client.channel.close()


@pytest.mark.parametrize("case", ["empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
                                  "custom_metadata", "status_code_and_message"])
def test_gzip_from_grpcio_on_every_call_kind(interop_server, case):
    """grpcio compressing every request (and accepting gzip responses) works on every kind of call."""
    client = Client(interop_server.port, compression=grpc.Compression.Gzip)
    try:
        getattr(client, case)()
    finally:
        client.channel.close()


# MARK: - our client against grpcio's server

class GrpcioTestService(test_grpc.TestServiceServicer):
    """grpc.testing.TestService as the interop descriptions define the server."""

    @staticmethod
    def _echo(context):
        metadata = dict(context.invocation_metadata())
        if ECHO_INITIAL in metadata:
            context.send_initial_metadata(((ECHO_INITIAL, metadata[ECHO_INITIAL]),))
        if ECHO_TRAILING in metadata:
            context.set_trailing_metadata(((ECHO_TRAILING, metadata[ECHO_TRAILING]),))

    @staticmethod
    def _status(status, context):
        if status.code != 0:
            context.abort(grpc.StatusCode(next(c for c in grpc.StatusCode if c.value[0] == status.code).value), status.message)

    def EmptyCall(self, request, context):
        self._echo(context)
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        self._echo(context)
        self._status(request.response_status, context)
        return messages_pb2.SimpleResponse(payload=payload(request.response_size))

    def StreamingOutputCall(self, request, context):
        self._echo(context)
        for parameters in request.response_parameters:
            time.sleep(parameters.interval_us / 1e6)
            yield messages_pb2.StreamingOutputCallResponse(payload=payload(parameters.size))
        self._status(request.response_status, context)

    def StreamingInputCall(self, request_iterator, context):
        self._echo(context)
        total = sum(len(r.payload.body) for r in request_iterator)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(self, request_iterator, context):
        self._echo(context)
        for request in request_iterator:
            self._status(request.response_status, context)
            for parameters in request.response_parameters:
                time.sleep(parameters.interval_us / 1e6)
                yield messages_pb2.StreamingOutputCallResponse(payload=payload(parameters.size))

    def HalfDuplexCall(self, request_iterator, context):
        requests = list(request_iterator)
        for request in requests:
            for parameters in request.response_parameters:
                yield messages_pb2.StreamingOutputCallResponse(payload=payload(parameters.size))


@pytest.fixture(scope="module")
def grpcio_server():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    test_grpc.add_TestServiceServicer_to_server(GrpcioTestService(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)


@pytest.mark.parametrize("case", CASES + ["client_compressed_unary"])
def test_interop_client_against_grpcio_server(grpcio_server, case):
    result = subprocess.run([servers.binary("interop-client"), "--server_port", str(grpcio_server), "--test_case", case],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "%s: passed" % case


def test_interop_client_reports_a_failure_in_one_line(interop_server):
    """A case that cannot pass (nothing listens there) exits non-zero with one line saying why."""
    with socket_port() as port:
        result = subprocess.run([servers.binary("interop-client"), "--server_port", str(port), "--test_case", "empty_unary"],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("empty_unary: FAILED: ") and "127.0.0.1" in lines[0]


class socket_port:
    """A port nothing listens on (bound, then closed)."""

    def __enter__(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc):
        return False
