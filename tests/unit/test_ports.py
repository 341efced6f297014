"""Listening ports are picked below the kernel's ephemeral range."""

from __future__ import annotations

import socket

from kvstore.ports import LOWEST, ephemeral_range, pick_port


def test_picked_ports_are_free_and_below_the_ephemeral_range() -> None:
    low, _ = ephemeral_range()
    for _ in range(50):
        port = pick_port()
        assert LOWEST <= port < low
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # really free


def test_a_process_is_not_handed_the_same_port_twice() -> None:
    # 2,000 random picks from ~22,000 ports would repeat dozens of times
    picks = [pick_port() for _ in range(2000)]
    assert len(set(picks)) == len(picks)
