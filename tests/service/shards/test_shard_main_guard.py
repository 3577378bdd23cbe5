"""``scan_shards`` from a plain script: refused at once without the main guard, run with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CALL = """from service.shards import scan_shards

result = scan_shards([{inputs!r}], index={index!r}, out={out!r}, tiers=("verbatim",),
                     workers=2, progress=False)
print("complete" if result.complete else f"failed: {{result.failed}}")
"""


def run_script(path: Path, source: str) -> subprocess.CompletedProcess:
    path.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=600, cwd=path.parent
    )


def test_an_unguarded_script_is_refused_before_any_worker_starts(shard_set, small_index, tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "scan_my_shards.py"
    source = CALL.format(inputs=str(shard_set.folder), index=str(small_index), out=str(out))

    done = run_script(script, source)

    assert done.returncode == 1, (done.stdout, done.stderr)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("service.shards.main_guard.UnguardedMainError: scan_shards()")
    assert f"{script} (line 3)" in last and 'if __name__ == "__main__":' in last
    assert "BrokenProcessPool" not in done.stdout + done.stderr
    assert not out.exists()  # nothing started, nothing written


def test_the_same_call_under_the_main_guard_scans(shard_set, small_index, tmp_path):
    out = tmp_path / "out"
    body = CALL.format(inputs=str(shard_set.folder), index=str(small_index), out=str(out))
    imports, call = body.split("\n\n", 1)
    indented = "".join(f"    {line}\n" for line in call.splitlines())
    source = f'{imports}\n\n\ndef main():\n{indented}\n\nif __name__ == "__main__":\n    main()\n'

    done = run_script(tmp_path / "guarded.py", source)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "complete"
