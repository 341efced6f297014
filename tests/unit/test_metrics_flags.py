"""``--listen-metrics-urls``: parsed as etcd's flag; what is not served is a usage error."""

from __future__ import annotations

import pytest

from kvstore.main import build_config, parser


def test_metrics_urls_reach_the_config() -> None:
    urls = "http://127.0.0.1:2381,http://localhost:2382"
    args = parser().parse_args(["--listen-metrics-urls", urls])
    assert build_config(args).listen_metrics_urls == (
        "http://127.0.0.1:2381",
        "http://localhost:2382",
    )
    assert build_config(parser().parse_args([])).listen_metrics_urls == ()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1:2381", "only http:// metrics URLs are served"),
        ("http://127.0.0.1", "needs a host and a port"),
        ("http://127.0.0.1:notaport", "Port could not be cast"),
    ],
)
def test_a_metrics_url_not_served_is_a_usage_error(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["--listen-metrics-urls", url])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
