"""A watcher that reads slowly loses nothing, and the server does not buffer without bound."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import grpc

from kvstore.config import WatchConfig
from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.inproc import running_inproc

PUTS = 600


def test_slow_watcher_falls_back_to_catch_up_and_gets_every_event(tmp_path: Path) -> None:
    # A tiny per-stream buffer: the watcher must be moved to catch-up many times.
    small = WatchConfig(send_queue_size=2, catchup_batch_revisions=7)
    with running_inproc(tmp_path, watch=small) as server:
        # No BDP probing: the client keeps a small flow-control window, so a
        # reader that does not read really does push back on the server.
        channel = grpc.insecure_channel(server.endpoint, options=[("grpc.http2.bdp_probe", 0)])
        requests: queue.Queue[rpc_pb2.WatchRequest | None] = queue.Queue()
        requests.put(
            rpc_pb2.WatchRequest(
                create_request=rpc_pb2.WatchCreateRequest(
                    key=b"/slow/", range_end=b"/slow0", prev_kv=True
                )
            )
        )
        stream = rpc_pb2_grpc.WatchStub(channel).Watch(iter(requests.get, None))
        created = next(stream)
        assert created.created
        kv = rpc_pb2_grpc.KVStub(channel)
        for i in range(PUTS):  # nobody reads the watch stream meanwhile
            value = str(i).encode() + b"." * 2000
            kv.Put(rpc_pb2.PutRequest(key=f"/slow/{i % 10}".encode(), value=value))
        hub = server.server._hub
        assert hub is not None
        assert hub.fallbacks > 0, "the stream buffer never filled: the test proves nothing"

        seen: list[tuple[int, bytes, bytes]] = []
        headers: list[int] = []
        done = threading.Event()

        def read() -> None:
            for resp in stream:
                headers.append(resp.header.revision)
                for ev in resp.events:
                    seen.append((ev.kv.mod_revision, ev.kv.value, ev.prev_kv.value))
                if len(seen) >= PUTS:
                    done.set()
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert done.wait(60), f"only {len(seen)} of {PUTS} events arrived"
        requests.put(None)
        stream.cancel()
        channel.close()
        reader.join(10)

    revisions = [rev for rev, _, _ in seen]
    assert revisions == list(range(2, PUTS + 2)), "events lost, repeated or out of order"
    assert [value.split(b".")[0] for _, value, _ in seen] == [str(i).encode() for i in range(PUTS)]
    # prev_kv is the previous write of the same key (10 keys round-robin)
    assert all(
        prev.split(b".")[0] == (str(i - 10).encode() if i >= 10 else b"")
        for i, (_, _, prev) in enumerate(seen)
    )
    assert headers == sorted(headers), "the header revision went back on one stream"
