"""Every error the API sends has one JSON shape, a stable ``code`` and the right status.

``{"error": {"code": "...", "message": "...", "request_id": "..."}}``. Anything a client can send
ends in a 4xx with a message saying what to change; a 500 means a bug here, and is logged with
its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with its HTTP status and code; raise it anywhere in a request."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers


class UnauthorizedError(ApiError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str, *, challenge: str = "Bearer"):
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class DocumentTooLargeError(ApiError):
    status = 413
    code = "document_too_large"


class BatchTooLargeError(ApiError):
    status = 413
    code = "batch_too_large"


class InvalidTextError(ApiError):
    status = 422
    code = "invalid_text"


class ReloadFailedError(ApiError):
    """The new index could not be loaded; the old one keeps serving."""

    status = 409
    code = "reload_failed"


class NotReadyError(ApiError):
    status = 503
    code = "not_ready"

    def __init__(self, message: str):
        super().__init__(message, headers={"Retry-After": "5"})


class ScanTimeoutError(ApiError):
    status = 503
    code = "timeout"

    def __init__(self, message: str):
        super().__init__(message, headers={"Retry-After": "1"})


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "request_id": request.scope.get("state", {}).get("request_id"),
    }
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(request, exc.status, exc.code, exc.message, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "http_error")
    message = str(exc.detail)
    if status == 413:
        limit = request.app.state.settings.max_request_bytes
        message = f"request body is larger than {limit} bytes (CLEARANCE_MAX_REQUEST_BYTES)"
    elif status == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI reports any body it cannot decode as a bare 400; say which byte is wrong.
        cause = exc.__cause__
        code = "invalid_utf8"
        message = (
            f"request body is not valid UTF-8: byte 0x{cause.object[cause.start]:02x} at "
            f"offset {cause.start} ({cause.reason}); send JSON encoded as UTF-8"
        )
    elif status == 400 and exc.__cause__ is not None:
        code = "invalid_body"
        message = f"request body could not be read as JSON: {exc.__cause__}"
    return error_response(request, status, code, message, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (media_type == "application/json" or media_type.endswith("+json")):
        # FastAPI only parses JSON bodies; without this the client would read "Field required".
        return error_response(
            request,
            415,
            "unsupported_media_type",
            f"send the body as JSON with `Content-Type: application/json` (got {media_type!r})",
        )
    errors = exc.errors()
    # Only where and what: the rejected input may be a whole document, which must not be echoed.
    details = [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]
    broken_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if broken_json is not None:
        position = broken_json["loc"][-1] if broken_json.get("loc") else "?"
        reason = broken_json.get("ctx", {}).get("error", "cannot parse")
        message = f"request body is not valid JSON ({reason}; character {position})"
        return error_response(request, 422, "invalid_json", message, details=details)
    shown = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details[:5])
    more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
    return error_response(
        request,
        422,
        "invalid_request",
        f"request does not match the schema: {shown}{more}",
        details=details,
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = request.scope.get("state", {}).get("request_id")
    log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    return error_response(
        request,
        500,
        "internal_error",
        "the server failed on this request; the error is logged with this request_id",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
