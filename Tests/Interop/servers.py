"""Starting and stopping the project's binaries for tests: each prints
"listening on HOST:PORT" once bound to a port the OS picked."""
import os
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def binary(name):
    """The built executable: BUILD_DIR (set by the Makefile) or .build/release."""
    build = os.environ.get("BUILD_DIR", os.path.join(ROOT, ".build", "release"))
    path = os.path.join(build, name)
    if not os.path.exists(path):
        raise RuntimeError("%s is not built (expected %s); run make build" % (name, path))
    return path


class Process:
    """A child process serving on 127.0.0.1; stops on close (stdin EOF, then SIGTERM)."""

    def __init__(self, args, env=None, ready="listening on ", timeout=30, log=None):
        self.args = args
        # stderr goes to a file: a pipe nobody reads would fill and stall the server.
        self.log_path = log or os.path.join(tempfile.mkdtemp(prefix="server-log-"), "stderr.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            env=dict(os.environ, **(env or {})), text=True)
        deadline = time.time() + timeout
        self.address = None
        self.lines = []
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if ready in line:
                self.address = line.split(ready, 1)[1].strip().split()[0]
                break
        if self.address is None:
            self.proc.kill()
            raise RuntimeError("%s did not start: %s %s" % (args[0], "".join(self.lines), open(self.log_path).read()))
        self.port = int(self.address.rsplit(":", 1)[1])

    def close(self, timeout=15):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def stderr(self):
        self.log.flush()
        return open(self.log_path).read()

    def terminate(self, timeout=20):
        """SIGTERM, and the exit status."""
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
