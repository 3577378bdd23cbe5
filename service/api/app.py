"""The FastAPI application: settings in, a ready-to-serve app out.

The index loads in the background after start-up, so ``/healthz`` answers at once and
``/readyz`` turns ready when the scanner is warm. SIGHUP reloads the index, like
``POST /v1/admin/reload``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from service.api.errors import ReloadFailedError, install_error_handlers
from service.api.metrics import ApiMetrics
from service.api.middleware import RequestBodyLimit, RequestObserver
from service.api.reloadable import ReloadableScanner
from service.api.routes import probes, v1
from service.api.settings import ApiSettings

log = logging.getLogger(__name__)

DESCRIPTION = """\
Scan training documents against the reference index this server was started with
(benchmark test sets, copyrighted works). Each result has a risk, a keep / review / remove
decision, and every match with its spans in the document and in the reference item.

Authenticate with `Authorization: Bearer KEY` (keys from `CLEARANCE_API_KEYS`). Errors are
`{"error": {"code", "message", "request_id"}}`.
"""


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the app for ``settings``; serve it with uvicorn (see ``service.api.server``).

    >>> settings = ApiSettings.from_env(index="demo-index", auth="disabled")  # doctest: +SKIP
    >>> app = create_app(settings)                                           # doctest: +SKIP
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        app_version = version("clearance")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        app_version = "0"
    metrics = ApiMetrics()
    reloadable = ReloadableScanner(settings, metrics)
    background: set[asyncio.Task[None]] = set()

    def reload_in_background() -> None:
        task = asyncio.get_running_loop().create_task(_load_quietly(reloadable))
        background.add(task)
        task.add_done_callback(background.discard)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reload_in_background()
        on_sighup = _listen_for_sighup(reload_in_background)
        try:
            yield
        finally:
            if on_sighup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    # /docs with Swagger UI served from the fastapi-offline package, not a CDN: the service runs
    # where the internet is out of reach, and its docs must still render. No /redoc: ReDoc's
    # bundle fetches its logo from Redocly's CDN even when served locally.
    app = FastAPIOffline(
        redoc_url=None,
        title="Clearance",
        version=app_version,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.scanner = reloadable
    install_error_handlers(app)
    # The last added runs first: the observer sees (and ids) even a refused oversize body.
    app.add_middleware(RequestBodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestObserver, metrics=metrics)
    app.include_router(v1)
    app.include_router(probes)
    if settings.review_results is not None:
        _mount_review(app, settings)
    return app


def _mount_review(app: FastAPI, settings: ApiSettings) -> None:
    """The review pages of ``clearance review`` under /review, behind the same API keys."""
    from fastapi import Depends

    from service.api.deps import require_browser_key
    from service.review.app import ReviewSite, review_router

    assert settings.review_results is not None
    site = ReviewSite.open(settings.review_results, base="/review", default_index=settings.index)
    app.include_router(review_router(site, [Depends(require_browser_key)]), prefix="/review")


async def _load_quietly(reloadable: ReloadableScanner) -> None:
    # load() has logged the failure; the previous index, if any, keeps serving.
    with contextlib.suppress(ReloadFailedError):
        await reloadable.load()


def _listen_for_sighup(callback: Callable[[], None]) -> bool:
    """Reload on SIGHUP when this loop may own signals (the main thread); False otherwise."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, callback)
    except (ValueError, RuntimeError, NotImplementedError, AttributeError):
        log.info("SIGHUP reload unavailable here (not the main thread); use /v1/admin/reload")
        return False
    return True
