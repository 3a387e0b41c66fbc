"""Where ``tailor.incidents`` breaks a generated data set: rewriting a day's events file and
listing what was injected (the consent banner bug's withdrawals are numbered with the day's
consent records, ``crm._consent_records``).
"""

from __future__ import annotations

import json
from pathlib import Path

from tailor.incidents import (
    INCIDENTS_HEADER,
    Incident,
    ground_truth_rows,
    rewrite_events_file,
)
from tailor.synthetic.common import _csv_text
from tailor.synthetic.config import GZIP_LEVEL
from tailor.synthetic.writers import _Output


def _inject_event_incident(out: _Output, inc: Incident, seed: int) -> tuple[int, int]:
    """Rewrite the day's events file with the incident; renumber (or drop) the dirt rows
    of the file. Returns (change in the number of events, records affected)."""
    path, rel = out.path("events", inc.day, "events.ndjson.gz")
    if not path.exists():
        raise ValueError(f"incident {inc.kind} on {inc.day}: no events file for that day")
    dirty = {r[3] for r in out.dirt if r[0] == "events" and r[2] == rel}
    data, mapping, n, affected = rewrite_events_file(
        path.read_bytes(), inc, seed, dirty, GZIP_LEVEL
    )
    path.write_bytes(data)
    dirt = []
    for r in out.dirt:
        if r[0] == "events" and r[2] == rel:
            line = mapping[r[3] - 1]
            if line is None:
                continue
            r = (r[0], r[1], r[2], line, r[4], r[5])
        dirt.append(r)
    out.dirt[:] = dirt
    before = out.counts["events"][inc.day.isoformat()]
    out.counts["events"][inc.day.isoformat()] = n
    return n - before, affected


def _write_incidents(
    ground_truth: Path, injected: list[tuple[Incident, int]], previous: list[list[str]]
) -> None:
    """incidents.csv (the rows of earlier runs of the data set first) and the manifest's list."""
    rows = previous + ground_truth_rows(injected)
    (ground_truth / "incidents.csv").write_text(_csv_text(INCIDENTS_HEADER, rows))
    manifest_path = ground_truth / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["incidents"] = [dict(zip(INCIDENTS_HEADER, r, strict=True)) for r in rows]
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
