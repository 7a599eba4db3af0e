"""Live status at scale: a dashboard's one grpcio channel holding 1,000
WatchImport streams, 10,000 over 10 channels, unary calls beside them, and
CLI watches that survive a server restart."""
import asyncio
import json
import os
import subprocess
import time

import grpc
import pytest

import servers
from importd_protos import imports_grpc, imports_pb2
from test_importctl import importctl

CSV = b"email,first_name,last_name\nana@example.com,Ana,Silva\n"


def queued_import(server):
    client = server.client()
    job = client.upload(CSV, file_name="watched.csv")
    client.close()
    return job.id


async def watch_many(address, token, import_id, channels, per_channel, on_all_ready):
    """Opens channels × per_channel watches; calls `on_all_ready(stubs)` once every
    watch has its first snapshot; returns each watch's states, in order, and the
    times the calls took."""
    metadata = (("authorization", "Bearer " + token),)
    # A local subchannel pool each: grpcio would otherwise share one connection
    # between channels to the same target.
    open_channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(channels)]
    stubs = [imports_grpc.ImportServiceStub(c) for c in open_channels]
    first = asyncio.Event()
    ready = 0
    total = channels * per_channel

    async def one(stub):
        nonlocal ready
        states = []
        call = stub.WatchImport(imports_pb2.WatchImportRequest(import_id=import_id), metadata=metadata, timeout=60)
        async for update in call:
            states.append(update.state)
            if len(states) == 1:
                ready += 1
                if ready == total:
                    first.set()
        return states

    tasks = [asyncio.ensure_future(one(stub)) for stub in stubs for _ in range(per_channel)]
    start = time.monotonic()
    await asyncio.wait_for(first.wait(), 30)
    first_snapshots = time.monotonic() - start
    result = await on_all_ready(stubs, metadata)
    states = await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for channel in open_channels:
        await channel.close()
    return first_snapshots, result, states


@pytest.mark.parametrize("channels,per_channel", [(1, 1000), (10, 1000)], ids=["1000-on-one-channel", "10000-on-ten"])
def test_thousands_of_watchers_all_get_snapshots_and_unary_calls_stay_fast(fresh_importd, channels, per_channel):
    server = fresh_importd("--import-interval", "8760h")
    import_id = queued_import(server)

    async def cancel(stubs, metadata):
        # A unary call on a channel that carries 1,000 open watches.
        start = time.monotonic()
        job = await stubs[0].GetImport(imports_pb2.GetImportRequest(import_id=import_id), metadata=metadata, timeout=10)
        get_seconds = time.monotonic() - start
        assert job.state == imports_pb2.IMPORT_STATE_QUEUED
        start = time.monotonic()
        await stubs[0].CancelImport(imports_pb2.CancelImportRequest(import_id=import_id), metadata=metadata, timeout=10)
        return get_seconds, time.monotonic() - start

    first, (get_seconds, cancel_seconds), states = asyncio.run(
        watch_many(server.address, server.token, import_id, channels, per_channel, cancel))
    assert len(states) == channels * per_channel
    # Every watcher saw QUEUED first and CANCELLED last (then the stream ended).
    assert all(s[0] == imports_pb2.IMPORT_STATE_QUEUED and s[-1] == imports_pb2.IMPORT_STATE_CANCELLED for s in states)
    assert first < 10, "first snapshots took %.1f s" % first
    assert get_seconds < 2 and cancel_seconds < 2, (get_seconds, cancel_seconds)
    assert server.stop() == 0


def test_importctl_watch_reconnects_across_a_restart_and_says_so_once(fresh_importd, tmp_path):
    data = tmp_path / "data"
    server = fresh_importd("--import-interval", "8760h", data_dir=data)
    import_id = queued_import(server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTCTL_")}
    env.update(IMPORTCTL_SERVER=server.address, IMPORTCTL_TOKEN=server.token)
    watch = subprocess.Popen([servers.binary("importctl"), "watch", import_id], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(1)
    assert server.stop() == 0  # the watch gets UNAVAILABLE (the server is shutting down)
    time.sleep(1.5)
    again = fresh_importd("--import-interval", "8760h", "--listen", server.address, data_dir=data)
    cancelled = importctl("cancel", import_id, server=again)
    assert cancelled.returncode == 0, cancelled.stderr
    out, err = watch.communicate(timeout=30)
    assert watch.returncode == 4, (out, err)  # CANCELLED
    assert err.count("lost the connection to importd") == 1, err
    assert err.count("reconnected; watching %s again from a fresh snapshot" % import_id) == 1, err
    assert "QUEUED" in out and "CANCELLED" in out


def test_importctl_watch_all_follows_every_import(fresh_importd):
    server = fresh_importd("--import-interval", "8760h")
    first = queued_import(server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTCTL_")}
    env.update(IMPORTCTL_SERVER=server.address, IMPORTCTL_TOKEN=server.token)
    watch = subprocess.Popen([servers.binary("importctl"), "watch", "--all", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    seen = [json.loads(watch.stdout.readline())]
    assert seen[0]["id"] == first and seen[0]["state"] == "IMPORT_STATE_QUEUED"
    second = queued_import(server)
    client = server.client()
    client.call("CancelImport", imports_pb2.CancelImportRequest(import_id=first))
    client.close()
    while len(seen) < 3:
        seen.append(json.loads(watch.stdout.readline()))
    watch.send_signal(2)  # Ctrl-C
    watch.wait(timeout=10)
    assert watch.returncode == 130
    assert [(j["id"], j["state"]) for j in seen[1:]] == [(second, "IMPORT_STATE_QUEUED"), (first, "IMPORT_STATE_CANCELLED")]
