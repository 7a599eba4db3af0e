"""A real PostgreSQL 15 for the end-to-end tests: initdb into a temporary
directory, a server listening only on a Unix socket in it, stopped at the end.
PostgreSQL refuses to run as root; as root it runs as Debian's `postgres` user."""
import os
import shutil
import subprocess
import tempfile
import uuid

VERSIONS = ("15", "16", "17")


def binaries():
    for version in VERSIONS:
        path = "/usr/lib/postgresql/%s/bin" % version
        if os.access(os.path.join(path, "initdb"), os.X_OK):
            return path
    return None


class Cluster:
    def __init__(self):
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL's server is not installed (Debian: postgresql-15); scripts/install-deps.sh --test installs it")
        self.as_user = "postgres" if os.geteuid() == 0 else None
        # Under /tmp: a Unix socket's path must stay short.
        self.directory = tempfile.mkdtemp(prefix="importd-pg-", dir="/tmp")
        self.socket_dir = os.path.join(self.directory, "run")
        os.mkdir(self.socket_dir)
        if self.as_user:
            subprocess.run(["chown", "-R", self.as_user + ":", self.directory], check=True)
        self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync",
                  "-E", "UTF8", "--locale=C")
        options = ("-c listen_addresses='' -k %s -p 5432 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                   " -c max_connections=200 -c shared_buffers=64MB" % self.socket_dir)
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.directory, "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    @property
    def data(self):
        return os.path.join(self.directory, "data")

    def _run(self, *args):
        argv = list(args)
        if self.as_user:
            argv = ["runuser", "-u", self.as_user, "--"] + argv
        # No pipes: the server outlives the command and would hold them open.
        with open(os.path.join(self.directory, "command.log"), "ab") as log:
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True, close_fds=True, timeout=120)

    def create_database(self):
        name = "importd_%s" % uuid.uuid4().hex[:12]
        self._run(os.path.join(self.bin, "createdb"), "-h", self.socket_dir, "-p", "5432", "-U", "postgres", name)
        return name

    def url(self, database):
        """A libpq connection URI (the socket directory as the host)."""
        return "postgresql://postgres@/%s?host=%s&port=5432" % (database, self.socket_dir)

    def query(self, database, sql):
        """Runs `sql` with psql; the rows as lists of strings."""
        result = subprocess.run([os.path.join(self.bin, "psql"), "-h", self.socket_dir, "-p", "5432", "-U", "postgres",
                                 "-d", database, "-AtF", "\t", "-c", sql],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
        return [line.split("\t") for line in result.stdout.splitlines()]

    def scalar(self, database, sql):
        return self.query(database, sql)[0][0]

    def stop(self):
        try:
            self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
