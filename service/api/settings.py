"""Every knob of the HTTP service, read once from ``CLEARANCE_*`` environment variables.

One validated object, so a bad deployment fails at start-up with a message naming the variable,
not on the first request. Unsafe combinations are refused rather than defaulted: auth enabled
with no keys, short keys, or auth disabled on an address other people can reach.

>>> settings = ApiSettings.from_env(index="demo-index", auth="disabled")  # doctest: +SKIP
>>> settings.scan_settings().tiers                                         # doctest: +SKIP
('verbatim', 'paraphrase')
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.policy import Policy
from service.scanner import TIERS, ScanSettings

ENV_PREFIX = "CLEARANCE_"
# Long enough that guessing is hopeless; `secrets.token_urlsafe(32)` gives 43 characters.
MIN_KEY_LENGTH = 16
KEY_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class ApiSettingsError(ValueError):
    """The environment describes a server that should not start; the message says how to fix it."""


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class ApiSettings(BaseSettings):
    """Settings of ``clearance serve``; each field is the variable ``CLEARANCE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    index: Path = Field(description="Index folder to serve (`clearance index build --out DIR`).")
    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8000, ge=0, le=65535, description="Port to bind (0: any free port).")

    auth: Literal["enabled", "disabled"] = Field(
        "enabled", description="`disabled` serves without API keys, on a loopback address only."
    )
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), description="Comma-separated keys accepted as `Authorization: Bearer KEY`."
    )

    tiers: Annotated[tuple[str, ...], NoDecode] = Field(
        TIERS, description="Comma-separated scanner tiers: verbatim, paraphrase."
    )
    policy: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description='Threshold overrides as JSON, e.g. {"benchmark": {"review_at": 0.4}}.',
    )
    min_report_risk: float = Field(0.2, ge=0, le=1, description="Weaker matches are not reported.")
    allowlist: Path | None = Field(
        None,
        description="Reviewers' dismissals (`clearance review`): matches it covers are reported "
        "as allowed and not counted; read again on every reload.",
    )
    review_results: Path | None = Field(
        None,
        description="A `scan-shards` output folder or `clearance scan` results file to serve "
        "the review pages for, under /review, behind the API keys.",
    )
    threads: int | None = Field(
        None, ge=1, description="Threads for the embedding model and FAISS's searches."
    )

    max_document_bytes: int = Field(
        1_000_000, ge=1, description="Largest document text, in UTF-8 bytes."
    )
    max_batch_documents: int = Field(256, ge=1, description="Most documents in one batch.")
    max_request_bytes: int = Field(
        16_000_000, ge=1024, description="Largest request body, in bytes (413 above it)."
    )
    request_timeout_s: float = Field(
        30.0, gt=0, description="Longest a scan request may wait and run before a 503."
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_documents: bool = Field(
        False, description="Also log each document's text (off: logs hold ids and verdicts only)."
    )
    warmup: bool = Field(True, description="Scan a reference item before reporting ready.")

    _split_lists = field_validator("api_keys", "tiers", mode="before")(_split_commas)

    @field_validator("tiers")
    @classmethod
    def _known_tiers(cls, tiers: tuple[str, ...]) -> tuple[str, ...]:
        ScanSettings(tiers=tiers)  # raises with the list of valid tiers
        return tiers

    @field_validator("policy")
    @classmethod
    def _valid_policy(cls, policy: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        try:
            Policy.from_dict(policy)
        except TypeError as exc:  # dataclasses.replace with an unknown threshold name
            raise ValueError(f"unknown threshold in policy: {exc}") from exc
        return policy

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> ApiSettings:
        if self.auth == "enabled":
            if not self.api_keys:
                raise ValueError(
                    "no API keys: set CLEARANCE_API_KEYS (comma-separated), "
                    "or CLEARANCE_AUTH=disabled for local use on 127.0.0.1"
                )
            short = [k for k in self.api_keys if len(k.get_secret_value()) < MIN_KEY_LENGTH]
            if short:
                raise ValueError(
                    f"{len(short)} API key(s) shorter than {MIN_KEY_LENGTH} characters; {KEY_HINT}"
                )
        elif not is_loopback(self.host):
            raise ValueError(
                f"CLEARANCE_AUTH=disabled is for local use, but the server would listen on "
                f"{self.host}; bind 127.0.0.1 or set CLEARANCE_API_KEYS"
            )
        if self.max_document_bytes > self.max_request_bytes:
            raise ValueError(
                "CLEARANCE_MAX_DOCUMENT_BYTES is larger than CLEARANCE_MAX_REQUEST_BYTES; "
                "no document could ever reach that limit"
            )
        return self

    @classmethod
    def from_env(cls, **overrides: Any) -> ApiSettings:
        """Read the environment; ``overrides`` (e.g. CLI options) win over it.

        Raises ``ApiSettingsError`` listing every bad variable, instead of pydantic's report.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            raise ApiSettingsError(_describe(exc)) from None

    def scan_settings(self) -> ScanSettings:
        return ScanSettings(
            tiers=self.tiers, min_report_risk=self.min_report_risk, threads=self.threads
        )

    def scan_policy(self) -> Policy:
        return Policy.from_dict(self.policy)

    def key_values(self) -> tuple[str, ...]:
        return tuple(k.get_secret_value() for k in self.api_keys)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"]:
            name = ENV_PREFIX + str(error["loc"][0]).upper()
            problems.append(f"{name}: {message}")
        else:
            problems.append(message)
    return "invalid server settings: " + "; ".join(problems)
