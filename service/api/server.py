"""Run the app under uvicorn: what ``clearance serve`` calls."""

from __future__ import annotations

import logging

import uvicorn

from service.api.app import create_app
from service.api.json_logging import configure_logging
from service.api.settings import ApiSettings

log = logging.getLogger(__name__)


def serve(settings: ApiSettings) -> None:
    """Serve until SIGINT/SIGTERM (graceful: requests in flight finish).

    One process, one scanner thread: scale out with more processes or containers, each
    memory-mapping the same index files.
    """
    configure_logging(settings.log_level)
    log.info(
        "starting",
        extra={
            "index": str(settings.index),
            "auth": settings.auth,
            "api_keys": len(settings.api_keys),
            "tiers": list(settings.tiers),
            "max_request_bytes": settings.max_request_bytes,
            "max_document_bytes": settings.max_document_bytes,
            "max_batch_documents": settings.max_batch_documents,
        },
    )
    if settings.auth == "disabled":
        log.warning("authentication is disabled (CLEARANCE_AUTH=disabled); local use only")
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level,
        access_log=False,  # RequestObserver writes one JSON line per request instead
        server_header=False,
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 5,
    )
    uvicorn.Server(config).run()
