"""Plain HTTP requests to a member's monitoring URL, and its metrics read."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, list[tuple[dict[str, str], float]]]


def get(url: str, method: str = "GET") -> tuple[int, str, str]:
    """(status, content type, body) of one request."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def metrics(url: str) -> Samples:
    """``url``/metrics, by sample name: (labels, value) of each sample."""
    status, content_type, body = get(url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    found: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(found: Samples, name: str) -> float:
    """The value of ``name``, a sample without labels or with one set of them."""
    (sample,) = found[name]
    return sample[1]


def labelled(found: Samples, name: str, label: str, wanted: str) -> float:
    """The value of the ``name`` sample whose ``label`` is ``wanted`` (0 if none)."""
    for labels, count in found.get(name, []):
        if labels[label] == wanted:
            return count
    return 0
