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
