"""Python stubs for gRPC's interop protos (grpc.testing), generated at first
import from Debian's grpc-proto package (/usr/share/grpc-proto) into
.build/pygen-interop with grpcio-tools' protoc; never committed.

Their proto package is `grpc.testing`, and `grpc` is grpcio's own Python
package, so the generated modules are put in a package of their own,
`grpc_interop`, and their imports of each other rewritten to it.

    from interop_protos import empty_pb2, messages_pb2, test_pb2, test_grpc
"""
import os
import re
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GRPC_PROTOS = "/usr/share/grpc-proto"
OUT = os.path.join(ROOT, ".build", "pygen-interop")
FILES = ["grpc/testing/empty.proto", "grpc/testing/messages.proto", "grpc/testing/test.proto",
         "grpc/testing/benchmark_service.proto"]


def _generate():
    from grpc_tools import protoc

    package = os.path.join(OUT, "grpc_interop")
    stamp = os.path.join(OUT, ".stamp")
    missing = [f for f in FILES if not os.path.exists(os.path.join(GRPC_PROTOS, f))]
    if missing:
        raise RuntimeError("missing %s: install grpc-proto (scripts/install-deps.sh --test)" % ", ".join(missing))
    newest = max(os.path.getmtime(os.path.join(GRPC_PROTOS, f)) for f in FILES)
    if os.path.exists(stamp) and os.path.getmtime(stamp) >= newest:
        return
    os.makedirs(package, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        args = ["protoc", "-I" + GRPC_PROTOS, "--python_out=" + tmp, "--grpc_python_out=" + tmp] + FILES
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed")
        generated = os.path.join(tmp, "grpc", "testing")
        for name in os.listdir(generated):
            text = open(os.path.join(generated, name)).read()
            text = re.sub(r"^from grpc\.testing import", "from grpc_interop import", text, flags=re.M)
            with open(os.path.join(package, name), "w") as out:
                out.write(text)
    open(os.path.join(package, "__init__.py"), "w").close()
    open(stamp, "w").close()


_generate()
if OUT not in sys.path:
    sys.path.insert(0, OUT)

from grpc_interop import benchmark_service_pb2_grpc as benchmark_grpc  # noqa: E402,F401
from grpc_interop import empty_pb2, messages_pb2  # noqa: E402,F401
from grpc_interop import test_pb2_grpc as test_grpc  # noqa: E402,F401
