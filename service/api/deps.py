"""Dependencies that keep route signatures short: settings, the scanner, metrics, the API key."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.errors import UnauthorizedError
from service.api.metrics import ApiMetrics
from service.api.reloadable import LoadedScanner, ReloadableScanner
from service.api.settings import ApiSettings

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="One of the keys in CLEARANCE_API_KEYS, sent as `Authorization: Bearer KEY`.",
)


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics


def get_reloadable(request: Request) -> ReloadableScanner:
    return request.app.state.scanner


def current_scanner(request: Request) -> LoadedScanner:
    """The scanner this request will use from start to end, even if a reload swaps it."""
    return request.app.state.scanner.current()


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
ReloadableDep = Annotated[ReloadableScanner, Depends(get_reloadable)]
ScannerDep = Annotated[LoadedScanner, Depends(current_scanner)]


def require_api_key(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if settings.auth == "disabled":
        return
    if credentials is None:
        raise UnauthorizedError("missing API key: send the header `Authorization: Bearer KEY`")
    offered = credentials.credentials.encode()
    # Compare against every key, in constant time, so timing says nothing about which is close.
    accepted = False
    for key in settings.key_values():
        accepted |= hmac.compare_digest(offered, key.encode())
    if not accepted:
        raise UnauthorizedError("API key not accepted")
