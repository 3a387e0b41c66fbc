"""Two versions of the code side by side: this checkout and an older commit checked out
in a scratch worktree (the before/after benchmarks: ``fixed_cost.py``, ``load_day.py``)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@contextlib.contextmanager
def base_and_head(base: str, root: Path) -> Iterator[dict[str, Path]]:
    """``{"base <rev>": worktree, "this <rev>": REPO}``: ``base`` checked out with
    ``git worktree add --detach`` under ``root`` (removed afterwards); this checkout's
    label says ``+changes`` when it has uncommitted edits (they are measured too)."""
    base_rev, head = _git("rev-parse", "--short", base), _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "--untracked-files=no"):
        head += "+changes"
    old_home = root / f"code-{base_rev}"
    if not old_home.exists():
        _git("worktree", "add", "--detach", str(old_home), base_rev)
    try:
        yield {f"base {base_rev}": old_home, f"this {head}": REPO}
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(old_home)],
            capture_output=True,
        )
