import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python", "src"))

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


class Importd:
    """A real importd on 127.0.0.1 (port picked by the system) with its own data
    directory, importing every second. Tests that need an import to stay QUEUED
    pass `--import-interval 8760h`: ticks fall on multiples of the interval, so
    `1h` would run it at the next full hour, whenever the test happens to run."""

    def __init__(self, data_dir, *extra):
        self.data_dir = str(data_dir)
        self.extra = list(extra)
        listen = [] if "--listen" in extra else ["--listen", "127.0.0.1:0"]
        args = [servers.binary("importd")] + listen + ["--data-dir", self.data_dir,
                "--import-interval", "1s", "--batch-rows", "500"] + list(extra)
        self.server = servers.Process(args, log=os.path.join(os.path.dirname(self.data_dir), "importd-%s.log" % os.path.basename(self.data_dir)))
        self.address = self.server.address
        self.token = open(os.path.join(self.data_dir, "admin.token")).read().strip()

    def client(self, token=None, **kwargs):
        import raw_client
        return raw_client.ImportdClient(self.address, token=self.token if token is None else token, **kwargs)

    def token_cli(self, *args):
        import subprocess
        database = self.extra[self.extra.index("--database"):][:2] if "--database" in self.extra else []
        result = subprocess.run([servers.binary("importd"), "token"] + list(args) + ["--data-dir", self.data_dir] + database,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def new_token(self, scope, name=""):
        return self.token_cli("create", "--scope", scope, "--name", name or scope).strip()

    def stop(self):
        return self.server.terminate()

    def log(self):
        return self.server.stderr()


@pytest.fixture(scope="module")
def importd(tmp_path_factory):
    server = Importd(tmp_path_factory.mktemp("importd") / "data")
    yield server
    assert server.stop() == 0


@pytest.fixture
def fresh_importd(tmp_path):
    servers_started = []

    def start(*extra, data_dir=None):
        server = Importd(data_dir or tmp_path / ("data%d" % len(servers_started)), *extra)
        servers_started.append(server)
        return server

    yield start
    for server in servers_started:
        if server.server.proc.poll() is None:
            server.stop()
