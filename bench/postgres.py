"""PostgreSQL benchmarks, against their peers in the same run, on a throwaway
cluster (Tests/Interop/postgres.py: initdb in a temporary directory, a Unix
socket only):

1. The engine on PostgreSQL (bench/importbench --database) against `psql \\copy`
   of the same file into a table whose only check is a unique lower(email)
   index (bench/sqlite_import_schema.sql): alternating, several rounds.
2. Three files uploaded to three importd replicas on one database, against the
   same three files on one replica: from the last upload's answer to the last
   import's end.

    bench/postgres.py OUT_DIR      (BENCH_PG_ROWS, BENCH_PG_REPLICA_ROWS, BENCH_ROUNDS)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Interop"))
import postgres  # noqa: E402

RELEASE = os.path.join(ROOT, ".build", "release")
PYTHON = os.path.join(ROOT, ".build", "venv", "bin", "python")
PEER_SCHEMA = open(os.path.join(ROOT, "bench", "sqlite_import_schema.sql")).read()


def generated(rows, seed=42):
    path = os.path.join(ROOT, "bench-out", "contacts-%d%s.csv" % (rows, "" if seed == 42 else "-s%d" % seed))
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        print("generating %d contacts" % rows, flush=True)
        subprocess.run([PYTHON, os.path.join(ROOT, "scripts", "gen_contacts.py"), str(rows), "--seed", str(seed), "-o", path],
                       check=True, stderr=subprocess.DEVNULL)
    return path


def psql(cluster, database, *args):
    subprocess.run([os.path.join(cluster.bin, "psql"), "-h", cluster.socket_dir, "-p", "5432", "-U", "postgres", "-d", database,
                    "-v", "ON_ERROR_STOP=1", "-q"] + list(args), check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def copy_peer(cluster, path):
    database = cluster.create_database()
    psql(cluster, database, "-c", PEER_SCHEMA.replace("TEXT", "text"))
    unique = deduplicated(path)
    start = time.perf_counter()
    # The generated file has in-file duplicate emails, which the unique index
    # refuses: the peer loads the file with them left out (as sqlite3 .import
    # skips them), so its time covers every row the engine creates.
    psql(cluster, database, "-c", "\\copy contacts FROM '%s' WITH (FORMAT csv, HEADER true)" % unique)
    return time.perf_counter() - start


def deduplicated(path):
    """The file without rows whose email (lower-cased) came earlier, made once."""
    out = path[:-4] + "-unique.csv"
    if os.path.exists(out):
        return out
    import csv
    seen = set()
    with open(path, newline="", encoding="utf-8") as source, open(out, "w", newline="", encoding="utf-8") as target:
        reader = csv.reader(source)
        writer = csv.writer(target)
        header = next(reader)
        writer.writerow(header)
        email = header.index("email") if "email" in header else 3
        for row in reader:
            key = row[email].lower() if len(row) > email else ""
            if key and key in seen:
                continue
            seen.add(key)
            writer.writerow(row)
    return out


def engine(cluster, path):
    database = cluster.create_database()
    result = subprocess.run([os.path.join(RELEASE, "importbench"), path, "--database", cluster.url(database)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


class Replica:
    def __init__(self, cluster, database, directory, token=None):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if token:
            with open(os.path.join(directory, "admin.token"), "w") as f:
                f.write(token + "\n")
        self.log = open(os.path.join(directory, "importd.log"), "w")
        self.proc = subprocess.Popen([os.path.join(RELEASE, "importd"), "--listen", "127.0.0.1:0", "--data-dir", directory,
                                      "--database", cluster.url(database), "--import-interval", "1s"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), line
        self.address = line.split()[-1]
        self.token = open(os.path.join(directory, "admin.token")).read().strip()

    def upload(self, path):
        subprocess.run([os.path.join(RELEASE, "importctl"), "upload", path, "--server", self.address, "--token", self.token, "--json"],
                       check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def replicas(cluster, files, count):
    database = cluster.create_database()
    work = tempfile.mkdtemp(prefix="pgbench-")
    started = [Replica(cluster, database, os.path.join(work, "r0"))]
    for i in range(1, count):
        started.append(Replica(cluster, database, os.path.join(work, "r%d" % i), started[0].token))
    try:
        for i, path in enumerate(files):
            started[i % count].upload(path)
        start = time.perf_counter()
        while int(cluster.scalar(database, "SELECT count(*) FROM imports WHERE state IN (1, 2)")) > 0:
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        done = cluster.query(database, "SELECT state, processed_rows, created, updated, failed FROM imports ORDER BY id")
        assert all(row[0] == "4" for row in done), done
        return {"seconds": seconds, "imports": len(done), "rows": sum(int(r[1]) for r in done), "work": work}
    finally:
        for replica in started:
            replica.stop()


def importing_replicas(work):
    """Replicas whose log shows an import they ran (each logs its own runs)."""
    count = 0
    for name in os.listdir(work):
        log = os.path.join(work, name, "importd.log")
        if os.path.exists(log) and " RUNNING file=" in open(log).read():
            count += 1
    return count


def main():
    out = sys.argv[1]
    rows = int(os.environ.get("BENCH_PG_ROWS", "1000000"))
    replica_rows = int(os.environ.get("BENCH_PG_REPLICA_ROWS", "300000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    path = generated(rows)
    cluster = postgres.Cluster()
    try:
        copies, engines, rss = [], [], []
        for round in range(rounds):
            copies.append(copy_peer(cluster, path))
            result = engine(cluster, path)
            engines.append(result["import_seconds"])
            rss.append(result["peak_rss_mb"])
            print("round %d: psql \\copy %.2f s, engine on PostgreSQL %.2f s (%d created)" % (
                round + 1, copies[-1], engines[-1], result["created"]), flush=True)
        files = [generated(replica_rows, seed) for seed in (101, 102, 103)]
        three, one = [], []
        for round in range(max(1, rounds - 1)):
            three.append(replicas(cluster, files, 3))
            one.append(replicas(cluster, files, 1))
            print("replicas round %d: three files on three replicas %.2f s, on one %.2f s" % (
                round + 1, three[-1]["seconds"], one[-1]["seconds"]), flush=True)
    finally:
        cluster.stop()
    data = {
        "rows": rows, "bytes": os.path.getsize(path),
        "copy": {"seconds": statistics.median(copies), "runs": copies},
        "engine": {"seconds": statistics.median(engines), "runs": engines},
        "peak_rss_mb": max(rss),
        "replica_rows": replica_rows,
        "three_replicas": {"seconds": statistics.median(r["seconds"] for r in three), "runs": [r["seconds"] for r in three],
                           "replicas_that_imported": max(importing_replicas(r["work"]) for r in three)},
        "one_replica": {"seconds": statistics.median(r["seconds"] for r in one), "runs": [r["seconds"] for r in one]},
    }
    with open(os.path.join(out, "postgres.json"), "w") as f:
        json.dump(data, f, indent=2)


if __name__ == "__main__":
    main()
