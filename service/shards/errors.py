"""Errors a ``scan-shards`` user can hit; each message says what to do about it."""

from __future__ import annotations


class ShardScanError(RuntimeError):
    """Base class: the CLI prints these as one line, without a traceback."""


class ShardInputError(ShardScanError, ValueError):
    """The inputs name no readable shard, or one in an unsupported format."""


class ShardScanConfigError(ShardScanError, ValueError):
    """The output folder holds results of a run with other settings."""


class OutputBusyError(ShardScanError):
    """Another scan is writing to the same output folder."""


class RayEngineError(ShardScanError):
    """Ray is not installed, or the Ray run itself failed (not one shard of it)."""
