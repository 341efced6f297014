"""Fixtures shared by the tests that drive a real RaftNode without a network."""

from __future__ import annotations

from typing import Any

import pytest
from pysyncobj.transport import TCPTransport


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every message a node's transport sends, in order, instead of sending it."""
    captured: list[dict[str, Any]] = []
    monkeypatch.setattr(
        TCPTransport, "send", lambda _self, _node, message: captured.append(message) or True
    )
    return captured
