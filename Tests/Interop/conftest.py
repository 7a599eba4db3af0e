import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import servers  # noqa: E402


@pytest.fixture(scope="module")
def rpctest_server():
    server = servers.Process([servers.binary("rpctest")])
    yield server
    assert server.close() == 0


@pytest.fixture
def fresh_rpctest_server(request):
    args = getattr(request, "param", [])
    server = servers.Process([servers.binary("rpctest")] + list(args))
    yield server
    server.close()
