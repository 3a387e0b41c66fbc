"""`tailor generate --shape`: the generator writes a store of each shape."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tailor.cli import main

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("shape", "absent", "present"),
    [
        ("events-only", {"orders", "order_items"}, {"events", "products", "customers"}),
        ("orders-only", {"events"}, {"orders", "order_items", "products", "customers"}),
        ("both", set(), {"events", "orders", "order_items"}),
    ],
)
def test_generate_writes_the_sources_of_the_shape(tailor_env, shape, absent, present):
    args = ["generate", "--customers", "20", "--products", "20", "--days", "2", "--dirt", "0"]
    result = CliRunner().invoke(main, [*args, "--shape", shape])
    assert result.exit_code == 0, result.output
    written = {p.name for p in tailor_env.landing.iterdir() if any(p.glob("dt=*/*"))}
    assert present <= written
    assert not absent & written
