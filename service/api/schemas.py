"""Request and response bodies of the HTTP API; they are also its OpenAPI documentation.

Response models mirror ``ScanResult.to_dict()`` field for field, so the API, the CLI's JSONL and
the shard scan all speak the same JSON.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.results import Decision

MAX_ID_CHARS = 512

_JANET = (
    "Homework help thread. Janet’s ducks lay 16 eggs per day. She eats three for breakfast "
    "every morning and bakes muffins for her friends every day with four. She sells the "
    "remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars "
    "does she make every day at the farmers' market? Thanks in advance!"
)

SCAN_EXAMPLES: dict[str, dict[str, Any]] = {
    "contaminated": {
        "summary": "A web page quoting a GSM8K test item",
        "value": {"id": "crawl-2024-10/000123", "text": _JANET, "metadata": {"shard": 17}},
    },
    "clean": {
        "summary": "An ordinary page",
        "value": {"id": "crawl-2024-10/000124", "text": "Our bakery opens at 7 am on weekdays."},
    },
}

_EVIDENCE_EXAMPLE = {
    "method": "verbatim",
    "doc_start": 22,
    "doc_end": 301,
    "ref_start": 0,
    "ref_end": 279,
    "similarity": 1.0,
    "confidence": 1.0,
    "ref_token_start": 0,
    "ref_token_end": 53,
    "ref_mass": 42.87,
    "signals": {},
}
_MATCH_EXAMPLE = {
    "ref_id": "0",
    "corpus": "gsm8k-test",
    "kind": "benchmark",
    "methods": ["verbatim"],
    "risk": 1.0,
    "decision": "remove",
    "similarity": 1.0,
    "coverage": 0.6974,
    "matched_tokens": 53,
    "doc_span": [22, 301],
    "ref_span": [0, 279],
    "snippet": "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and "
    "bakes muffins fo … aily for $2 per fresh duck egg. How much in dollars does she make every "
    "day at the farmers' market",
    "evidence": [_EVIDENCE_EXAMPLE],
}
_RESULT_EXAMPLE = {
    "id": "crawl-2024-10/000123",
    "risk": 1.0,
    "decision": "remove",
    "chars": 321,
    "matches": [_MATCH_EXAMPLE],
    "metadata": {"shard": 17},
}


class ScanRequest(BaseModel):
    """One document to scan."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [SCAN_EXAMPLES["contaminated"]["value"]]}
    )

    text: str = Field(description="The document, as UTF-8 text. An empty text is kept.")
    id: str | None = Field(
        None, max_length=MAX_ID_CHARS, description="Your id for the document, echoed back."
    )
    metadata: dict[str, Any] | None = Field(
        None, description="Any JSON object; echoed back unchanged, never logged."
    )

    @field_validator("metadata")
    @classmethod
    def _json_safe(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # The metadata goes back out as strict JSON: NaN or a lone surrogate would make the
        # response unwritable, so refuse them here, where the client gets a 422 with the reason.
        if value is not None:
            try:
                json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
            except ValueError as exc:
                raise ValueError(f"metadata is not valid strict JSON: {exc}") from None
        return value


class BatchScanRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"documents": [e["value"] for e in SCAN_EXAMPLES.values()]}]
        },
    )

    documents: list[ScanRequest] = Field(description="Documents to scan, results in this order.")


class EvidenceModel(BaseModel):
    """One aligned region; spans are ``[start, end)`` character offsets into the original texts."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EVIDENCE_EXAMPLE]})

    method: Literal["verbatim", "paraphrase", "renamed"] = Field(
        description="verbatim: the text itself; paraphrase: a rewording the verifier accepted; "
        "renamed: a program with its identifiers renamed (the same code shape)."
    )
    doc_start: int
    doc_end: int
    ref_start: int
    ref_end: int
    similarity: float
    confidence: float = Field(description="How sure this region is a copy, 0..1.")
    ref_token_start: int
    ref_token_end: int
    ref_mass: float = Field(description="Rare-term mass of the matched reference text.")
    signals: dict[str, float] = Field(description="What decided a paraphrase match.")


class MatchModel(BaseModel):
    """One reference item (or work) found in the document."""

    model_config = ConfigDict(json_schema_extra={"examples": [_MATCH_EXAMPLE]})

    ref_id: str
    corpus: str
    kind: str = Field(description="`benchmark` or `copyright`.")
    methods: list[str]
    risk: float
    decision: Decision
    similarity: float
    coverage: float = Field(description="Share of the reference item's tokens found.")
    matched_tokens: int
    doc_span: tuple[int, int]
    ref_span: tuple[int, int]
    snippet: str
    evidence: list[EvidenceModel]
    # Absent unless set, as in ScanResult.to_dict() and the CLI's JSONL.
    allowed: Literal["document", "span"] | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="Set when the server's allowlist (reviewers' dismissals) covers the match: "
        "it is then kept and not counted in the document's risk.",
    )


class ScanResponse(BaseModel):
    """The verdict on one document."""

    model_config = ConfigDict(json_schema_extra={"examples": [_RESULT_EXAMPLE]})

    id: str | None
    risk: float
    decision: Decision
    chars: int
    matches: list[MatchModel]
    metadata: dict[str, Any] | None = None


class RejectedDocument(BaseModel):
    """A batch document that could not be scanned; the rest of the batch still was."""

    id: str | None
    decision: None = None
    error: str
    code: Literal["document_too_large", "invalid_text"]
    metadata: dict[str, Any] | None = None


class BatchScanResponse(BaseModel):
    count: int
    results: list[ScanResponse | RejectedDocument] = Field(
        description="One entry per input document, in input order."
    )


class CorpusInfo(BaseModel):
    name: str
    kind: str
    mode: str
    items: int
    passages: int
    tokens: int
    ngrams: int
    checksum: str
    vector_index: str
    built_at: str
    source: str = ""
    license: str = ""
    items_without_ngrams: int = 0
    gram_lengths: list[int] = []
    removed_items: int = Field(0, description="Items taken down (`clearance index remove`).")


class RemovedCorpusInfo(BaseModel):
    """A corpus taken out of the index whole (`clearance index remove --corpus`)."""

    name: str
    items: int
    checksum: str
    removed_at: str


class ModelInfo(BaseModel):
    name: str
    backend: str
    dimension: int
    fingerprint: str


class ManifestInfo(BaseModel):
    """The index manifest as ``clearance index info --json`` prints it."""

    format_version: int
    clearance_version: str
    created_at: str
    updated_at: str
    model: ModelInfo
    settings: dict[str, Any]
    corpora: list[CorpusInfo]
    removed_corpora: list[RemovedCorpusInfo] = []


class IndexInfo(BaseModel):
    path: str
    generation: int = Field(description="Increases by one on every successful reload.")
    loaded_at: str
    load_seconds: float
    tiers: list[str]
    policy: dict[str, Any]
    totals: dict[str, int]
    manifest: ManifestInfo


class ReloadResponse(BaseModel):
    generation: int
    previous_generation: int | None
    loaded_at: str
    load_seconds: float
    corpora: list[str]


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    status: Literal["ready", "loading", "failed"]
    generation: int | None = None
    error: str | None = None


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. `unauthorized`.")
    message: str = Field(description="What went wrong and what to do, for people.")
    request_id: str | None = None
    details: list[dict[str, Any]] | None = Field(
        None, description="Per-field problems for 422 responses: loc, msg, type."
    )


class ErrorResponse(BaseModel):
    error: ErrorBody
