#!/usr/bin/env python3
"""rpctest.v1.TestService on grpcio (C-core), for the Swift client's interop
tests. Prints "listening on 127.0.0.1:PORT" and serves until stdin closes."""
import hashlib
import sys
import time
from concurrent import futures

import grpc

from importd_protos import test_grpc, test_pb2  # noqa: E402


class TestService(test_grpc.TestServiceServicer):
    def Echo(self, request, context):
        if request.sleep_ms:
            deadline = time.time() + request.sleep_ms / 1000
            while time.time() < deadline and context.is_active():
                time.sleep(0.01)
        metadata = dict(context.invocation_metadata())
        echoed = [(k, metadata[k]) for k in request.echo_metadata if k in metadata]
        if echoed:
            context.send_initial_metadata(echoed)
            context.set_trailing_metadata(echoed)
        if request.fail_code:
            context.abort(grpc.StatusCode(_code(request.fail_code)), request.fail_message)
        return test_pb2.EchoResponse(message=request.message, payload=request.payload)

    def Collect(self, request_iterator, context):
        digest = hashlib.sha256()
        messages = size = 0
        for chunk in request_iterator:
            messages += 1
            size += len(chunk.data)
            digest.update(chunk.data)
        return test_pb2.CollectSummary(messages=messages, bytes=size, sha256=digest.hexdigest())

    def Generate(self, request, context):
        payload = b"a" * request.size
        for i in range(request.count):
            yield test_pb2.Chunk(data=payload, index=i)
            if request.interval_ms:
                time.sleep(request.interval_ms / 1000)
        if request.fail_code:
            context.abort(grpc.StatusCode(_code(request.fail_code)), "failed after %d messages" % request.count)

    def Chat(self, request_iterator, context):
        for request in request_iterator:
            yield test_pb2.EchoResponse(message=request.message, payload=request.payload)


def _code(number):
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code.value
    return grpc.StatusCode.UNKNOWN.value


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    test_grpc.add_TestServiceServicer_to_server(TestService(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("listening on 127.0.0.1:%d" % port, flush=True)
    sys.stdin.read()
    server.stop(grace=2).wait()


if __name__ == "__main__":
    main()
