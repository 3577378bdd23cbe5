"""``clearance review`` behind the typer signature: open the results, export, or serve."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from service.review.allowlist import write_allowlist
from service.review.app import ReviewSite, create_review_app


def run_review(
    results: Path,
    *,
    index: Path | None = None,
    docs: Sequence[str] = (),
    host: str = "127.0.0.1",
    port: int = 8765,
    verdicts_out: Path | None = None,
    allowlist_out: Path | None = None,
    say=print,
) -> None:
    """Serve the review pages for ``results``; with an ``*_out`` path, write it and return.

    The pages have no login of their own, so they are served on loopback only; to review
    from other machines, serve them from ``clearance serve`` (``CLEARANCE_REVIEW_RESULTS``),
    behind its API keys.
    """
    from service.api.settings import is_loopback

    site = ReviewSite.open(results, index=index, docs=docs)
    store = site.results.store
    if verdicts_out or allowlist_out:
        if verdicts_out:
            say(f"verdicts: {store.export_jsonl(verdicts_out)} written to {verdicts_out}")
        if allowlist_out:
            entries = write_allowlist(store, allowlist_out)
            say(f"allowlist: {entries} entries written to {allowlist_out}")
        counts, facets = store.counts(), site.results.facets()
        flagged = facets.decisions["review"] + facets.decisions["remove"]
        say(
            f"{flagged} flagged documents: {counts.reviewed} reviewed "
            f"({counts.confirmed} confirmed, {counts.dismissed} dismissed)"
        )
        return
    if not is_loopback(host):
        raise ValueError(
            f"the review pages have no login of their own and would listen on {host}; bind "
            "127.0.0.1, or serve them behind API keys with `clearance serve` and "
            "CLEARANCE_REVIEW_RESULTS"
        )
    import uvicorn

    say(f"reviewing {results}: http://{host}:{port}/")
    uvicorn.run(create_review_app(site), host=host, port=port, log_level="warning")
