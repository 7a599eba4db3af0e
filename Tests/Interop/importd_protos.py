"""Python stubs for the tests: the import service's come from the client
package (clients/python, committed); the test service's are generated from
Protos/ at first import into .build/pygen (never committed) with grpcio-tools'
protoc.

    from importd_protos import imports_pb2, imports_grpc, test_pb2, test_grpc
"""
import os
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTOS = os.path.join(ROOT, "Protos")
OUT = os.path.join(ROOT, ".build", "pygen")
# The google/* and grpc/health protos are not generated here: the
# protobuf, grpcio-health-checking and googleapis-common-protos packages have them.
FILES = ["rpctest/v1/test_service.proto"]


def _generate():
    from grpc_tools import protoc
    import grpc_tools

    os.makedirs(OUT, exist_ok=True)
    stamp = os.path.join(OUT, ".stamp")
    newest = max(os.path.getmtime(os.path.join(PROTOS, f)) for f in FILES)
    if os.path.exists(stamp) and os.path.getmtime(stamp) >= newest:
        return
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        args = ["protoc", "-I" + PROTOS, "-I" + well_known, "--python_out=" + tmp, "--grpc_python_out=" + tmp] + FILES
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed")
        for dirpath, _, filenames in os.walk(tmp):
            for name in filenames:
                src = os.path.join(dirpath, name)
                dst = os.path.join(OUT, os.path.relpath(src, tmp))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                os.replace(src, dst)
    open(stamp, "w").close()


_generate()
if OUT not in sys.path:
    sys.path.insert(0, OUT)
# The client package from the source tree, unless it is installed.
PACKAGE = os.path.join(ROOT, "clients", "python", "src")
if PACKAGE not in sys.path:
    sys.path.append(PACKAGE)

from rpctest.v1 import test_service_pb2 as test_pb2  # noqa: E402
from rpctest.v1 import test_service_pb2_grpc as test_grpc  # noqa: E402
from importd_client import import_service_pb2 as imports_pb2  # noqa: E402,F401
from importd_client import import_service_pb2_grpc as imports_grpc  # noqa: E402,F401
