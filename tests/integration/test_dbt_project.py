"""The dbt project as a whole: it parses, and its documentation and contracts are complete."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from tailor import transform
from tailor.settings import get_settings

pytestmark = pytest.mark.integration

OWN_FOLDERS = (
    "models/staging",
    "models/intermediate",
    "models/marts/core",
    "models/marts/segmentation",
    "models/marts/ml",
)


@pytest.fixture
def settings(tmp_path):
    data = tmp_path / "data"
    return dataclasses.replace(
        get_settings(),
        data=data,
        warehouse=data / "warehouse" / "tailor.duckdb",
        duckdb_temp=data / "tmp" / "duckdb",
    )


def test_the_real_project_parses(settings):
    """dbt parses the project: every ref, macro, YAML property and unit test resolves."""
    result = transform.run_dbt(["parse"], settings=settings)
    nodes = result.result.nodes
    for model in (
        "customers",
        "customer_rfm",
        "customer_lifecycle",
        "customer_segment_history",
        "customer_flags",
        "user_item_interactions",
        "customer_features",
        "sessions",
        "orders",
        "products",
        "int_identity_graph",
        "int_events_stitched",
    ):
        assert f"model.tailor.{model}" in nodes
    contracted = {
        n.name for n in nodes.values() if n.resource_type == "model" and n.contract.enforced
    }
    assert {
        "customers",
        "customer_rfm",
        "customer_features",
        "user_item_interactions",
        "customer_lifecycle",
    } <= contracted
    undocumented = [
        f"{n.name}.{c}"
        for n in nodes.values()
        if n.resource_type == "model" and n.original_file_path.startswith(OWN_FOLDERS)
        for c, col in ({"": SimpleNamespace(description=n.description)} | dict(n.columns)).items()
        if not col.description
    ]
    assert undocumented == []


PARSE_IN_A_NEW_PROCESS = """
import dataclasses, sys
from pathlib import Path
from tailor import pipeline, transform
from tailor.settings import get_settings

s = get_settings()
work = dataclasses.replace(s, warehouse=pipeline.work_path(s, sys.argv[1]))
manifest = transform.parsed_manifest(work)
assert all(n.database == s.warehouse.stem for n in manifest.nodes.values() if n.database)
"""


def test_a_new_process_for_another_run_reuses_the_saved_parse(tmp_path):
    """Each nightly run (and each Airflow task) is a new process on its own working copy:
    dbt must re-read its saved parse, not parse the project again, and the parsed nodes
    must name the catalog every working copy has (the warehouse's file name)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")}
    env.update(TAILOR_HOME=str(repo), TAILOR_DATA=str(tmp_path / "data"))
    outputs = []
    for run_id in ("2026-10-01", "2026-10-02"):
        proc = subprocess.run(
            [sys.executable, "-c", PARSE_IN_A_NEW_PROCESS, run_id],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    first, second = outputs
    assert "Starting full parse" in first
    assert "Unable to do partial parsing" not in second, second
    assert "Starting full parse" not in second, second
