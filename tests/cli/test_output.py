"""Output helpers that must print what etcdctl prints."""

from __future__ import annotations

import pytest

from kvstore.cli.output import go_quote


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("/a/", '"/a/"'),
        ("\0", '"\\x00"'),  # etcdctl -w fields shows an open-ended range end so
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x7f\x1b", '"\\x7f\\x1b"'),
        ("é\u00a0", '"é\\u00a0"'),
    ],
)
def test_go_quote_matches_gos_q_verb(value: str, quoted: str) -> None:
    assert go_quote(value) == quoted
