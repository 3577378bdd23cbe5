"""/metrics stays bounded whatever clients send: labels come from closed sets only."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from service.api.metrics import KNOWN_METHODS
from tests.service.api.api_server import ServerProcess

# One path of each kind the server answers differently: an operation, a probe, the docs'
# static files, and paths that match nothing.
PATHS = ("/v1/scan", "/healthz", "/static-offline-docs/swagger-ui.css", "/v1/nothing", "/x")


def series(server: ServerProcess) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    text = server.client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def send_made_up_methods(server: ServerProcess, count: int, tag: str) -> None:
    """Unauthenticated requests, each with a verb of its own, as a scanner of the port sends."""
    for i in range(count):
        path = PATHS[i % len(PATHS)]
        response = server.client.request(f"{tag}{i}", f"{path}?{tag}={i}", content=b"x")
        assert response.status_code in (401, 404, 405), (path, response.status_code)


def test_requests_with_made_up_methods_add_no_series(api_server):
    """300 such requests once added 5,700 series (19 each: a counter and a histogram per
    method); after the first of each kind of path, they must add none."""
    send_made_up_methods(api_server, len(PATHS), "WARMUP")
    series(api_server)  # the first scrape counts itself only once it has answered
    before = series(api_server)

    send_made_up_methods(api_server, 300, "XQZ")
    after = series(api_server)

    assert after - before == set()
    methods = {dict(labels).get("method") for name, labels in after} - {None}
    assert methods <= KNOWN_METHODS | {"OTHER"}
    assert "OTHER" in methods
