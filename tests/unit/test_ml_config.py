"""The propensity and segments sections of config/tailor.yml: defaults, the project's
file, and errors that name the key."""

from __future__ import annotations

import pytest

from tailor.config import ConfigError, load_config, parse_config

pytestmark = pytest.mark.unit


def test_the_projects_file_scores_30_and_90_days(tailor_env):
    cfg = load_config(tailor_env)
    assert cfg.propensity.horizons == (30, 90)
    assert cfg.segments.k_min <= cfg.segments.k_max
    from ml.propensity import PropensityConfig

    run = PropensityConfig.from_settings(cfg.propensity, only=(180,))
    assert (run.horizons, run.only, run.horizon_days) == ((30, 90), (180,), 30)


def test_the_nightly_stage_reads_the_horizons_from_the_file(tailor_env, tmp_path, monkeypatch):
    path = tmp_path / "tailor.yml"
    path.write_text("propensity:\n  horizons: [14, 60]\n  short_history_horizon: null\n")
    monkeypatch.setenv("TAILOR_CONFIG", str(path))
    from ml.pipeline import propensity_config

    nightly = propensity_config(tailor_env)
    assert (nightly.horizons, nightly.only, nightly.short_history_horizon) == ((14, 60), None, None)
    assert propensity_config(tailor_env, 90).only == (90,)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"propensity": {"horizons": [30, 30]}}, r"propensity\.horizons: 30 is listed twice"),
        ({"propensity": {"horizons": ["thirty"]}}, r"propensity\.horizons: item 1 must be whole"),
        ({"propensity": {"horizons": []}}, r"propensity\.horizons: expected a list of days"),
        ({"propensity": {"horizon": 30}}, r"propensity\.horizon: unknown key"),
        ({"propensity": {"value_model": "magic"}}, r"propensity\.value_model: expected one of"),
        ({"propensity": {"min_rows": 2}}, r"propensity\.min_rows: must be at least 10"),
        ({"segments": {"k_min": 6, "k_max": 5}}, r"segments\.k_max: must be at least k_min"),
        ({"segments": {"recent_days": 200}}, r"segments\.lapsing_days: must be more than"),
        ({"segments": {"new_days": "soon"}}, r"segments\.new_days: expected a whole number"),
    ],
)
def test_invalid_values_name_the_key(doc, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(doc)


def test_the_error_points_at_the_line(tailor_env, tmp_path, monkeypatch):
    path = tmp_path / "tailor.yml"
    path.write_text("propensity:\n  train_cutoffs: 2\n  horizons: [7, 0]\n")
    monkeypatch.setenv("TAILOR_CONFIG", str(path))
    with pytest.raises(ConfigError, match=r"tailor.yml, line 3: propensity\.horizons: item 2"):
        load_config(tailor_env)
