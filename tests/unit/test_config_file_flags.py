"""etcd.conf.yml settings as flags: sections, lists, Go durations, switches."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvstore.flagsources import UsageError, from_config_file
from kvstore.main import duration, parser


def _flags(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "etcd.conf.yml"
    path.write_text(text)
    flags, _ = from_config_file(parser(), str(path), lambda action: action.type is duration)
    return flags


def test_settings_become_the_flags_of_the_same_name(tmp_path: Path) -> None:
    flags = _flags(
        tmp_path,
        "experimental-watch-progress-notify-interval: 2000000000\n"  # time.Duration: ns
        "request-timeout: 3s\n"
        "listen-client-urls: [http://127.0.0.1:1, http://127.0.0.1:2]\n"
        "insecure-peers: false\n"
        "strict-reconfig-check: false\n"
        "data-dir:\n"  # empty: the default
        "peer-transport-security:\n"
        "  cert-file: /p.crt\n"
        "  client-cert-auth: true\n",
    )
    args = parser().parse_args(flags)
    assert args.experimental_watch_progress_notify_interval == 2.0
    assert args.request_timeout == 3.0
    assert args.listen_client_urls == ("http://127.0.0.1:1", "http://127.0.0.1:2")
    assert args.insecure_peers is False and args.strict_reconfig_check is False
    assert args.data_dir is None
    assert args.peer_cert_file == Path("/p.crt") and args.peer_client_cert_auth is True


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "client-transport-security:\n  client-cert-auth: 'yes'\n",
            "cannot unmarshal string into Go struct field "
            "configYAML.client-transport-security.client-cert-auth of type bool",
        ),
        ("election-timeout: {a: 1}\n", "cannot unmarshal object into Go struct field"),
        ("peer-transport-security: on\n", "of type embed.securityConfig"),
        ("initial-cluster-state: bogus\n", "invalid value 'bogus' for initial-cluster-state"),
        ("request-timeout: soon\n", "invalid value 'soon' for request-timeout"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused(tmp_path: Path, text: str, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        _flags(tmp_path, text)
