"""Where ``tailor.incidents`` breaks a generated data set: rewriting a day's events file, adding
the consent banner bug's withdrawals, and listing what was injected.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tailor.incidents import (
    INCIDENTS_HEADER,
    Incident,
    consent_bug_records,
    ground_truth_rows,
    rewrite_events_file,
)
from tailor.synthetic.common import _csv_text
from tailor.synthetic.config import GZIP_LEVEL
from tailor.synthetic.population import _People
from tailor.synthetic.world import _World
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


def _inject_consent_bug(
    world: _World,
    people: _People,
    inc: Incident,
    consent_days: dict[int, list[dict]],
    final: list[list[str]],
) -> int:
    """Add the day's bogus withdrawals to ``consent_days`` and to the final consent state
    (ground truth) where they are the customer's latest record. Returns how many."""
    d = (inc.day - world.config.start).days
    erased = {world.customer_ids[i] for i in np.flatnonzero(people.erase_ms >= 0).tolist()}
    granted: dict[str, bool] = {}
    for day in sorted(k for k in consent_days if k < d):
        for r in consent_days[day]:
            if r["purpose"] == "personalization":
                granted[r["subject_id"]] = r["granted"]
    subjects = sorted(s for s, g in granted.items() if g and s not in erased)
    first_id = sum(len(v) for v in consent_days.values()) + 1
    records = consent_bug_records(inc, world.config.seed, subjects, first_id)
    consent_days.setdefault(d, []).extend(records)
    consent_days[d].sort(key=lambda r: r["consented_at"])
    latest = {r["subject_id"]: r for r in records}
    for row in final:
        rec = latest.get(row[0])
        if rec and row[1] == "personalization" and row[3] < rec["consented_at"]:
            row[2:5] = ["false", rec["consented_at"], rec["source"]]
    return len(records)


def _write_incidents(ground_truth: Path, injected: list[tuple[Incident, int]]) -> None:
    rows = ground_truth_rows(injected)
    (ground_truth / "incidents.csv").write_text(_csv_text(INCIDENTS_HEADER, rows))
    manifest_path = ground_truth / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["incidents"] = [dict(zip(INCIDENTS_HEADER, r, strict=True)) for r in rows]
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
