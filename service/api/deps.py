"""Dependencies that keep route signatures short: settings, the scanner, metrics, the API key."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

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


# The review pages are opened by a browser, which cannot send a bearer header on a link: it
# sends the key as the password of HTTP Basic auth (any user name) after the 401's prompt.
_basic = HTTPBasic(auto_error=False, realm="Clearance review")


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
    if not key_accepted(settings, credentials.credentials):
        raise UnauthorizedError("API key not accepted")


def require_browser_key(
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> None:
    """An API key as a bearer token or as the Basic-auth password (the browser's prompt)."""
    if settings.auth == "disabled":
        return
    offered = bearer.credentials if bearer is not None else basic.password if basic else None
    if offered is None or not key_accepted(settings, offered):
        raise UnauthorizedError(
            "an API key is needed: enter it as the password when the browser asks",
            challenge='Basic realm="Clearance review"',
        )


def key_accepted(settings: ApiSettings, offered: str) -> bool:
    # Compare against every key, in constant time, so timing says nothing about which is close.
    accepted = False
    for key in settings.key_values():
        accepted |= hmac.compare_digest(offered.encode(), key.encode())
    return accepted
