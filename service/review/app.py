"""The review pages: a queue of flagged documents, a side-by-side page each, verdicts by form.

Server-side templates (Jinja2, autoescaped) and plain HTML forms: the pages work without
JavaScript, and every asset is served from this package. ``review_router`` is the same set of
routes for ``clearance review`` (its own app on a loopback address) and for ``clearance
serve``, which mounts it under /review behind its API keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jinja2
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.params import Depends
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse

from service.review.allowlist import dismissed_entries
from service.review.queue import FLAGGED, QueueFilter, ReviewResults
from service.review.store import Verdict, VerdictError
from service.review.views import ReferenceTexts, document_view

PACKAGE = Path(__file__).parent
STATIC_FILES = {"review.css": "text/css"}
PAGE_SIZE = 50
REVIEWER_COOKIE = "clearance_reviewer"

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
    autoescape=True,  # document text is untrusted: it may hold HTML or script
    undefined=jinja2.StrictUndefined,
)


@dataclass
class ReviewSite:
    """What the routes serve: one results set, its reference texts, and where they are mounted."""

    results: ReviewResults
    references: ReferenceTexts
    base: str = ""

    @classmethod
    def open(
        cls,
        results: Path | str,
        *,
        index: Path | None = None,
        docs: Sequence[str] = (),
        base: str = "",
        default_index: Path | None = None,
    ) -> ReviewSite:
        """``index`` for the reference texts, else the one a shard scan recorded, else
        ``default_index`` (the server's own, for results that do not say)."""
        opened = ReviewResults.open(results, docs=docs)
        return cls(opened, ReferenceTexts(index or opened.index_dir or default_index), base)

    def render(self, name: str, **context: Any) -> HTMLResponse:
        page = _templates.get_template(name).render(base=self.base, **context)
        return HTMLResponse(page)


def _filter(params: dict[str, str]) -> QueueFilter:
    decision = params.get("decision") or "review"
    status = params.get("status") or "pending"
    if decision not in (*FLAGGED, "all") or status not in ("pending", "reviewed", "all"):
        raise HTTPException(
            400, "decision is review, remove or all; status pending, reviewed or all"
        )
    return QueueFilter(
        decisions=FLAGGED if decision == "all" else (decision,),
        corpus=params.get("corpus") or None,
        kind=params.get("kind") or None,
        shard=params.get("shard") or None,
        reviewed={"pending": False, "reviewed": True, "all": None}[status],
    )


def review_router(site: ReviewSite, dependencies: Sequence[Depends] = ()) -> APIRouter:
    router = APIRouter(dependencies=list(dependencies), include_in_schema=False)
    results = site.results

    @router.get("/", response_class=HTMLResponse)
    def queue(request: Request) -> HTMLResponse:
        params = dict(request.query_params)
        chosen = _filter(params)
        asked = params.get("page") or "0"
        if not asked.isdigit():
            raise HTTPException(400, "page is a number from 0")
        page = int(asked)
        total = results.count(chosen)
        chosen_params = {k: v for k, v in params.items() if k != "page" and v}
        return site.render(
            "queue.html",
            rows=results.page(chosen, page * PAGE_SIZE, PAGE_SIZE),
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            params=params,
            query=lambda **more: urlencode({**chosen_params, **more}),
            facets=results.facets(),
            counts=results.store.counts(),
            results_path=str(results.path),
        )

    @router.get("/documents/{row}", response_class=HTMLResponse)
    def document(request: Request, row: int) -> HTMLResponse:
        try:
            stored = results.document(row)
        except KeyError:
            raise HTTPException(404, f"no flagged document {row} in these results") from None
        view = document_view(stored, site.references, results.store.current(stored.doc_id))
        return site.render(
            "document.html",
            view=view,
            reviewer=request.cookies.get(REVIEWER_COOKIE, ""),
            back=request.query_params.get("back") or "",
        )

    @router.post("/documents/{row}/verdicts")
    async def verdict(request: Request, row: int) -> RedirectResponse:
        # A browser sends Basic credentials to any page that posts here; a verdict must come
        # from the review page itself, not from a form on another site.
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            raise HTTPException(403, "verdicts are taken from the review pages only")
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}
        try:
            stored = results.document(row)
        except KeyError:
            raise HTTPException(404, f"no flagged document {row} in these results") from None
        view = document_view(stored, site.references, {})
        match = next((m for m in view.matches if str(m.number) == form.get("match")), None)
        if match is None or not match.flagged:
            raise HTTPException(400, "choose one of the document's flagged matches")
        span = form.get("level") == "span"
        try:
            results.store.record(
                Verdict(
                    doc_id=stored.doc_id,
                    shard=stored.shard,
                    corpus=match.match["corpus"],
                    ref_id=match.match["ref_id"],
                    verdict=form.get("verdict", ""),  # type: ignore[arg-type]
                    level=(form.get("level") or None)
                    if form.get("verdict") == "dismissed"
                    else None,  # type: ignore[arg-type]
                    ref_start=match.ref_span[0] if span else None,
                    ref_end=match.ref_span[1] if span else None,
                    reviewer=form.get("reviewer", ""),
                    note=form.get("note", ""),
                    flagged_matches=view.flagged,
                )
            )
        except VerdictError as exc:
            raise HTTPException(400, str(exc)) from exc
        results.update_report()
        back = form.get("back") or ""
        target = f"{site.base}/documents/{row}" + (f"?{urlencode({'back': back})}" if back else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(REVIEWER_COOKIE, form.get("reviewer", ""), samesite="strict")
        return response

    @router.get("/verdicts.jsonl", response_class=PlainTextResponse)
    def verdicts() -> PlainTextResponse:
        lines = [_json_line(v.to_dict()) for v in results.store.history()]
        return PlainTextResponse("".join(lines), media_type="application/x-ndjson")

    @router.get("/allowlist.jsonl", response_class=PlainTextResponse)
    def allowlist() -> PlainTextResponse:
        lines = [_json_line(e.to_dict()) for e in dismissed_entries(results.store)]
        return PlainTextResponse("".join(lines), media_type="application/x-ndjson")

    @router.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no such asset")
        return FileResponse(PACKAGE / "static" / name, media_type=STATIC_FILES[name])

    return router


def _json_line(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, ensure_ascii=False) + "\n"


def create_review_app(site: ReviewSite) -> FastAPI:
    """The app ``clearance review`` serves: the review routes alone, at the root."""
    app = FastAPI(title="Clearance review", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(review_router(site))
    return app
