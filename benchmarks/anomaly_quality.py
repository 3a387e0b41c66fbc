"""Recall and false alarms of the anomaly detection on generated months.

For each seed: a clean month is generated and loaded into raw.*, the input metrics of
every day are computed in one pass and each day is judged against the weeks before it
(what ``tailor anomalies --from --to`` does); every anomaly there is a false alarm. Then
the same month with four incidents (one of each kind, on days after the two weeks of
history the detection waits for) is loaded over it, only the incident days being
reloaded (the generator leaves the other days' files byte-identical), and judged again:
an incident is detected when its metric and dimension (``incidents.csv``) are flagged on
its day. Flags on an incident day on other series are counted apart (a bot spike also
moves the desktop events and the identified share); flags on other days are false alarms.

Metrics from the marts (sessions, conversion, cart abandonment) and the output metrics
(recommendation coverage, audience sizes) need the dbt build and the ML stages of a real
night and are not part of this measurement.

    python benchmarks/anomaly_quality.py --customers 2000 --seeds 42 7 2026 \
        --out benchmarks/results/anomalies.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

KINDS = ("mobile_outage", "bot_spike", "broken_price_feed", "consent_banner_bug")


def _load(settings, landing: Path, days: list[dt.date]) -> None:
    from tailor import ingest
    from tailor.warehouse import connect

    con = connect(settings.warehouse, settings=settings)
    try:
        for d in days:
            ingest.load_day(con, landing, d)
    finally:
        con.close()


def _incident_days(seed: int, start: dt.date, days: int) -> list[dt.date]:
    """Four distinct judged days (after two weeks of history), varied by seed."""
    import numpy as np

    judged = list(range(14, days))
    picked = np.random.default_rng(seed).choice(judged, size=len(KINDS), replace=False)
    return [start + dt.timedelta(days=int(k)) for k in picked]


def run_seed(root: Path, customers: int, days: int, seed: int, magnitude: float) -> dict:
    from tailor.anomalies import backfill
    from tailor.incidents import Incident
    from tailor.settings import get_settings
    from tailor.synthetic.config import GeneratorConfig
    from tailor.synthetic.driver import generate

    start = dt.date(2026, 10, 1)
    end = start + dt.timedelta(days=days - 1)
    all_days = [start + dt.timedelta(days=k) for k in range(days)]
    base = get_settings()
    clean = dataclasses.replace(base, warehouse=root / "clean" / "tailor.duckdb")
    broken = dataclasses.replace(base, warehouse=root / "broken" / "tailor.duckdb")
    config = GeneratorConfig(customers=customers, days=days, start=start, seed=seed)
    began = time.perf_counter()
    generate(config, root / "clean" / "landing", root / "clean" / "truth")
    _load(clean, root / "clean" / "landing", all_days)
    broken.warehouse.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clean.warehouse, broken.warehouse)
    clean_judged = backfill(clean, start, end)

    incidents = tuple(
        Incident(kind, day, magnitude)
        for kind, day in zip(KINDS, _incident_days(seed, start, days), strict=True)
    )
    generate(config, root / "broken" / "landing", root / "broken" / "truth", incidents=incidents)
    _load(broken, root / "broken" / "landing", [i.day for i in incidents])
    judged = backfill(broken, start, end)
    seconds = time.perf_counter() - began

    def series_days(js):
        return sum(j.judged for j in js.values())

    false_clean = [a.describe() for j in clean_judged.values() for a in j.anomalies]
    incident_days = {i.day for i in incidents}
    detected, missed, collateral = [], [], 0
    for inc in incidents:
        keys = {a.key: a for a in judged[inc.day].anomalies}
        hit = keys.get(inc.expected)
        (detected if hit else missed).append(
            {
                "kind": inc.kind,
                "day": inc.day.isoformat(),
                "severity": hit.severity if hit else None,
                "observed": hit.observed if hit else None,
                "expected": hit.expected if hit else None,
            }
        )
        collateral += len(keys) - (1 if hit else 0)
    false_broken = [
        a.describe() for d, j in judged.items() if d not in incident_days for a in j.anomalies
    ]
    return {
        "seed": seed,
        "customers": customers,
        "days": days,
        "magnitude": magnitude,
        "judged_days": sum(1 for j in clean_judged.values() if j.judged),
        "judged_series_days_clean": series_days(clean_judged),
        "false_alarms_clean": len(false_clean),
        "false_alarm_days_clean": sum(1 for j in clean_judged.values() if j.anomalies),
        "false_alarms_clean_list": false_clean,
        "incidents": len(incidents),
        "detected": detected,
        "missed": missed,
        "collateral_flags_on_incident_days": collateral,
        "false_alarms_with_incidents": len(false_broken),
        "false_alarms_with_incidents_list": false_broken,
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 2026])
    parser.add_argument("--magnitude", type=float, default=0.5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="tailor-anomalies-") as tmp:
            r = run_seed(Path(tmp), args.customers, args.days, seed, args.magnitude)
        results.append(r)
        print(
            f"seed {seed}: clean month {r['false_alarms_clean']} false alarms over"
            f" {r['judged_series_days_clean']} judged series-days ({r['judged_days']} days);"
            f" incidents detected {len(r['detected'])}/{r['incidents']}"
            f" ({', '.join(d['kind'] + ':' + d['severity'] for d in r['detected'])});"
            f" other days {r['false_alarms_with_incidents']} false alarms; {r['seconds']} s",
            file=sys.stderr,
        )
    summary = {
        "runs": results,
        "recall": sum(len(r["detected"]) for r in results) / sum(r["incidents"] for r in results),
        "false_alarms_clean": sum(r["false_alarms_clean"] for r in results),
        "judged_series_days_clean": sum(r["judged_series_days_clean"] for r in results),
        "false_alarm_days_clean": sum(r["false_alarm_days_clean"] for r in results),
        "judged_days_clean": sum(r["judged_days"] for r in results),
    }
    text = json.dumps(summary, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
