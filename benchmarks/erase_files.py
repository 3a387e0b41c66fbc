"""The export copies' part of the physical erasure pass: one pass per person against one
pass for all of them, side by side on the same files, with the other files' pass beside.

    make demo                                                   # or any run's data folder
    .venv/bin/python benchmarks/erase_files.py                  # 16 people, 30 nights, 3 rounds
    .venv/bin/python benchmarks/erase_files.py --data /path/to/data --people 16 --nights 30

Works on a data folder a run left (``<data>/warehouse/tailor.duckdb`` and
``<data>/exports``; the demo's by default). The physical pass of a night redacts every
export copy written since the person's last pass, so the folder of each export written
that data folder holds is repeated for ``--nights`` nights (``dt=`` folders before the
written one, the same bytes: a month of nightly exports of that audience), in a scratch
folder of hard links (a redaction writes a new file and renames it over the name, so the
originals stay as they were). The people are the customers with the most sessions,
resolved on the warehouse as the erase stage does, half of them among those exported.

Each round times, on fresh copies, ``tailor.exports.redact.redact_exports`` once per
person (the pass before) and ``redact_exports_many`` once for all (the pass now), then
checks that both left the same export files; the order alternates between rounds. The
other files' pass (``tailor.privacy.files.redact_files``, once for everybody either way)
is timed once on a copy of those folders. Prints the medians, the ratio and ``uptime``'s
load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def same_tree(a: Path, b: Path) -> bool:
    """The same data files in both (manifests aside: an API requests file's count of
    changed requests differs, a request naming two people is one change in one pass)."""
    left = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    right = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return left == right and all(
        (a / r).read_bytes() == (b / r).read_bytes() for r in left if r.name != "manifest.json"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, help="a run's data folder (default: TAILOR_DATA or data/)")
    p.add_argument("--people", type=int, default=16, help="pending erasures in the pass")
    p.add_argument("--nights", type=int, default=30, help="nights of exports to redact")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)

    # each benchmark is a standalone script (python benchmarks/NAME.py): it finds the code to measure itself
    here = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(here))
    data = (args.data or Path(os.environ.get("TAILOR_DATA", here / "data"))).resolve()
    warehouse, exports = data / "warehouse" / "tailor.duckdb", data / "exports"
    if not warehouse.exists() or not any(exports.rglob("manifest.json")):
        p.error(f"no {warehouse} or no export in {exports}: run make demo first")

    from tailor.erased import merged
    from tailor.exports import redact
    from tailor.privacy.files import other_folders, redact_files
    from tailor.privacy.identity import resolve_identity
    from tailor.settings import get_settings
    from tailor.warehouse import connect

    os.environ["TAILOR_DATA"] = str(data)
    settings = get_settings()
    con = connect(warehouse, read_only=True, settings=settings)
    try:
        # who the exports hold: ops.export_state (every version sent to a destination)
        (exported,) = con.execute(
            "select list(distinct customer_id) from ops.export_state"
        ).fetchone()
        ranked = [
            r[0]
            for r in con.execute(
                "select customer_id from marts.customers order by session_count desc, customer_id"
            ).fetchall()
        ]
        chosen = [c for c in ranked if c in set(exported or [])][: args.people // 2]
        chosen += [c for c in ranked if c not in chosen][: args.people - len(chosen)]
        idents = [resolve_identity(con, customer_id=c) for c in chosen]
    finally:
        con.close()

    scratch = Path(tempfile.mkdtemp(prefix="erase-files-", dir=data / "tmp"))
    base = scratch / "exports"
    for manifest in sorted(exports.rglob("manifest.json")):
        folder = manifest.parent
        rel = folder.relative_to(exports)
        if not folder.name.startswith("dt="):
            shutil.copytree(folder, base / rel, copy_function=os.link)
            continue
        day = dt.date.fromisoformat(folder.name[3:])
        for back in range(args.nights):
            name = f"dt={(day - dt.timedelta(days=back)).isoformat()}"
            target = base / rel.parent / name
            if not target.exists():
                shutil.copytree(folder, target, copy_function=os.link)
    size = sum(f.stat().st_size for f in base.rglob("*") if f.is_file())
    folders = sum(1 for _ in base.rglob("manifest.json"))

    def fresh(name: str) -> Path:
        out = scratch / name
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(base, out, copy_function=os.link)
        return out

    def at(folder: Path):
        return type("S", (), {"exports": folder})()

    timings: dict[str, list[float]] = {"per_person": [], "batched": []}
    counts: dict[str, list] = {}
    for r in range(args.rounds):
        order = ["per_person", "batched"] if r % 2 == 0 else ["batched", "per_person"]
        for variant in order:
            target = fresh(variant)
            clock = time.perf_counter()
            if variant == "per_person":
                counts[variant] = [redact.redact_exports(at(target), i) for i in idents]
            else:
                counts[variant] = redact.redact_exports_many(at(target), idents)
            timings[variant].append(time.perf_counter() - clock)
        if not same_tree(scratch / "per_person", scratch / "batched"):
            print("the two passes left different export files", file=sys.stderr)
            return 1
    # the other files: one pass for everybody in both
    other = scratch / "other"
    other_settings = type(
        "S",
        (),
        {
            "data": other,
            "reports": other / "reports",
            "ground_truth": other / "ground_truth",
            "airflow_home": other / "airflow",
        },
    )()
    for folder, target in zip(other_folders(settings), other_folders(other_settings), strict=True):
        if folder.is_dir():
            shutil.copytree(folder, target, copy_function=os.link)
    other_size = sum(f.stat().st_size for f in other.rglob("*") if f.is_file())
    clock = time.perf_counter()
    changed, _ = redact_files(other_settings, merged(idents))
    files_seconds = time.perf_counter() - clock
    shutil.rmtree(scratch)

    before, now = (statistics.median(timings[k]) for k in ("per_person", "batched"))
    rows = [n for _, n in counts["batched"]]
    print(
        f"{len(idents)} people, {folders} export folders ({size / 1e6:.1f} MB, {args.nights} "
        f"nights): a pass per person {before:.2f} s, one pass {now:.2f} s, {before / now:.1f}x "
        f"(rounds {[round(t, 2) for t in timings['per_person']]} vs "
        f"{[round(t, 2) for t in timings['batched']]}); rows removed per person {rows}; "
        f"other files ({other_size / 1e6:.1f} MB) {files_seconds:.2f} s, {changed} changed; "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
