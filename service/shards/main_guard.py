"""Refusing, at once, a local scan started from a script's unguarded top level.

The local engine's workers are spawned: each starts a fresh interpreter that re-runs the main
script (as ``__mp_main__``) before it can unpickle its work. A script that calls
``scan_shards`` outside ``if __name__ == "__main__":`` would start a whole scan again in every
worker; multiprocessing stops that by killing the worker, and the run would end with every
shard failed as ``BrokenProcessPool``, which says nothing of the cause. So the call site is
checked before any worker starts: the outermost frame of the main script, against the
``if __name__ == "__main__":`` blocks of its source.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import FrameType

from service.shards.errors import ShardScanError


class UnguardedMainError(ShardScanError):
    """``scan_shards`` was called from a script's top level, where workers would re-run it."""


def refuse_unguarded_main(entry: str = "scan_shards()") -> None:
    """Raise ``UnguardedMainError`` if the running script calls us outside its main guard.

    Interactive sessions, notebooks, ``python -c`` and any script whose source cannot be read
    pass: spawned workers re-run only a main module that has a file.
    """
    site = _unguarded_call_site()
    if site is None:
        return
    path, line = site
    raise UnguardedMainError(
        f"{entry} is called at the top level of {path} (line {line}), outside "
        'if __name__ == "__main__":. Its worker processes re-run that script when they '
        "start, so put the call under that guard, e.g. def main(): ... then "
        'if __name__ == "__main__": main()'
    )


def _unguarded_call_site() -> tuple[str, int] | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path:
        return None
    frame = _main_module_frame(vars(main))
    if frame is None:
        return None
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None
    line = frame.f_lineno
    guarded = any(
        isinstance(node, ast.If)
        and _tests_for_main(node.test)
        and node.lineno <= line <= (node.end_lineno or node.lineno)
        for node in ast.walk(tree)
    )
    return None if guarded else (str(path), line)


def _main_module_frame(main_globals: dict) -> FrameType | None:
    """The frame running the main script's top level, if it is on the stack."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is main_globals and frame.f_code.co_name == "<module>":
            return frame
        frame = frame.f_back
    return None


def _tests_for_main(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, alone or inside a larger condition."""
    names = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
    constants = {n.value for n in ast.walk(test) if isinstance(n, ast.Constant)}
    return "__name__" in names and "__main__" in constants
