"""The endpoints. Each parses its input, calls the scanner, and shapes the answer; no scanning
logic lives here."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response

from service.api.deps import (
    MetricsDep,
    ReloadableDep,
    ScannerDep,
    SettingsDep,
    require_api_key,
)
from service.api.errors import ApiError, BatchTooLargeError, DocumentTooLargeError, InvalidTextError
from service.api.metrics import CONTENT_TYPE
from service.api.schemas import (
    SCAN_EXAMPLES,
    BatchScanRequest,
    BatchScanResponse,
    ErrorResponse,
    HealthResponse,
    IndexInfo,
    ReadyResponse,
    RejectedDocument,
    ReloadResponse,
    ScanRequest,
    ScanResponse,
)
from service.api.settings import ApiSettings
from service.results import ScanResult

log = logging.getLogger("clearance.scan")

# Which load of the index judged a document: pipelines can record it next to the verdict.
GENERATION_HEADER = "X-Index-Generation"


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "Body is not valid UTF-8, or too deeply nested to decode.",
        401: "Missing or wrong API key.",
        409: "The index could not be reloaded; the previous one keeps serving.",
        413: "Body, document or batch larger than the configured limits.",
        415: "Body not sent as `Content-Type: application/json`.",
        422: "Malformed JSON, wrong types, or text that is not valid Unicode.",
        503: "Index not loaded yet, or the scan timed out.",
    }
    return {s: {"model": ErrorResponse, "description": described[s]} for s in statuses}


probes = APIRouter(tags=["operations"])
v1 = APIRouter(
    prefix="/v1",
    dependencies=[Depends(require_api_key)],
    responses=_errors(401, 422),
)


@v1.post(
    "/scan",
    tags=["scan"],
    summary="Scan one document",
    responses=_errors(400, 413, 415, 503),
)
async def scan(
    document: Annotated[ScanRequest, Body(openapi_examples=SCAN_EXAMPLES)],
    request: Request,
    response: Response,
    loaded: ScannerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> ScanResponse:
    """Risk, keep/review/remove decision, and every match with spans in both texts.

    An empty text is a valid document (decision `keep`). Text over
    `CLEARANCE_MAX_DOCUMENT_BYTES` gets a 413, text with lone surrogates a 422.
    """
    problem = document_problem(document, settings)
    if problem is not None:
        raise problem
    [result] = await loaded.scan_many([document.text], [document.id], settings.request_timeout_s)
    metrics.observe_results([result])
    _note(request, settings, [document], [result], loaded.generation)
    response.headers[GENERATION_HEADER] = str(loaded.generation)
    return to_response(result, document.metadata)


@v1.post(
    "/scan/batch",
    tags=["scan"],
    summary="Scan many documents",
    responses=_errors(400, 413, 415, 503),
)
async def scan_batch(
    batch: BatchScanRequest,
    request: Request,
    response: Response,
    loaded: ScannerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> BatchScanResponse:
    """One result per document, in input order, all from the same index.

    A document over the size limit or with invalid text is answered with an entry holding
    `decision: null`, `code` and `error`; the others are scanned. More than
    `CLEARANCE_MAX_BATCH_DOCUMENTS` documents is a 413.
    """
    documents = batch.documents
    if len(documents) > settings.max_batch_documents:
        raise BatchTooLargeError(
            f"batch holds {len(documents)} documents; the limit is "
            f"{settings.max_batch_documents} (CLEARANCE_MAX_BATCH_DOCUMENTS)"
        )
    problems = [document_problem(d, settings) for d in documents]
    scannable = [d for d, p in zip(documents, problems, strict=True) if p is None]
    results = await loaded.scan_many(
        [d.text for d in scannable], [d.id for d in scannable], settings.request_timeout_s
    )
    metrics.observe_results(results)
    scanned = iter(results)
    answers: list[ScanResponse | RejectedDocument] = []
    for document, problem in zip(documents, problems, strict=True):
        if problem is None:
            answers.append(to_response(next(scanned), document.metadata))
        else:
            metrics.rejected.labels(problem.code).inc()
            answers.append(
                RejectedDocument(
                    id=document.id,
                    error=problem.message,
                    code=problem.code,
                    metadata=document.metadata,
                )
            )
    _note(
        request,
        settings,
        scannable,
        results,
        loaded.generation,
        rejected=len(documents) - len(scannable),
    )
    response.headers[GENERATION_HEADER] = str(loaded.generation)
    return BatchScanResponse(count=len(answers), results=answers)


@v1.get("/index", tags=["index"], summary="What the loaded index holds", responses=_errors(503))
async def index_info(loaded: ScannerDep, settings: SettingsDep) -> IndexInfo:
    """The manifest of the serving index (corpora, counts, model, settings) and how it is used."""
    manifest = loaded.scanner.index.manifest
    return IndexInfo(
        path=str(settings.index),
        generation=loaded.generation,
        loaded_at=loaded.loaded_at.isoformat(timespec="seconds"),
        load_seconds=round(loaded.load_seconds, 3),
        tiers=list(loaded.scanner.settings.tiers),
        policy=loaded.scanner.policy.to_dict(),
        totals={
            "corpora": len(manifest.corpora),
            "items": sum(c.items for c in manifest.corpora),
            "removed_items": sum(c.removed_items for c in manifest.corpora),
            "passages": sum(c.passages for c in manifest.corpora),
        },
        manifest=manifest.to_dict(),
    )


@v1.post(
    "/admin/reload",
    tags=["index"],
    summary="Reload the index from disk",
    responses=_errors(409),
)
async def reload_index(reloadable: ReloadableDep) -> ReloadResponse:
    """Load the index folder again (after a rebuild) and swap it in without a restart.

    The new index is loaded and warmed before the swap; requests already running finish on
    the old one, so none fail. `SIGHUP` to the server process does the same.
    """
    loaded, previous = await reloadable.load()
    return ReloadResponse(
        generation=loaded.generation,
        previous_generation=previous.generation if previous is not None else None,
        loaded_at=loaded.loaded_at.isoformat(timespec="seconds"),
        load_seconds=round(loaded.load_seconds, 3),
        corpora=[c.name for c in loaded.scanner.index.manifest.corpora],
    )


@probes.get("/healthz", summary="The process is alive")
async def healthz() -> HealthResponse:
    return HealthResponse()


@probes.get(
    "/readyz",
    summary="Index and model loaded, warm-up done",
    responses={503: {"model": ReadyResponse, "description": "Still loading, or loading failed."}},
)
async def readyz(reloadable: ReloadableDep, response: Response) -> ReadyResponse:
    status = reloadable.status
    if status == "ready":
        return ReadyResponse(status="ready", generation=reloadable.current().generation)
    response.status_code = 503
    return ReadyResponse(status=status, error=reloadable.error)


@probes.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics_text(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE)


def document_problem(document: ScanRequest, settings: ApiSettings) -> ApiError | None:
    """Why this document cannot be scanned, or None."""
    try:
        size = len(document.text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        return InvalidTextError(
            f"text is not valid Unicode: lone surrogate U+{ord(document.text[exc.start]):04X} at "
            f"character {exc.start} (JSON \\u escapes must pair into whole characters)"
        )
    if size > settings.max_document_bytes:
        return DocumentTooLargeError(
            f"document is {size} bytes of UTF-8; the limit is {settings.max_document_bytes} "
            "(CLEARANCE_MAX_DOCUMENT_BYTES)"
        )
    return None


def to_response(result: ScanResult, metadata: dict[str, Any] | None) -> ScanResponse:
    return ScanResponse.model_validate({**result.to_dict(), "metadata": metadata})


def _note(
    request: Request,
    settings: ApiSettings,
    documents: list[ScanRequest],
    results: list[ScanResult],
    generation: int,
    *,
    rejected: int = 0,
) -> None:
    """Add the verdicts to the request's access-log line; the texts only if asked for."""
    request.state.log_fields = {
        "documents": len(results),
        "rejected": rejected,
        "decisions": dict(Counter(r.decision.value for r in results)),
        "ids": [r.id for r in results[:20]],
        "index_generation": generation,
    }
    if settings.log_documents:
        for document, result in zip(documents, results, strict=True):
            log.info(
                "document",
                extra={"id": document.id, "decision": result.decision.value, "text": document.text},
            )
