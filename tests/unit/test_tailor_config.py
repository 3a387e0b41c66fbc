"""config/tailor.yml: defaults, validation with errors that name the key."""

from __future__ import annotations

import pytest

from tailor.config import AnomalyConfig, ConfigError, load_config, parse_config

pytestmark = pytest.mark.unit


def test_the_projects_file_is_valid_and_tunes_the_anomaly_rules(tailor_env):
    cfg = load_config(tailor_env)
    assert cfg.path == tailor_env.home / "config" / "tailor.yml"
    assert cfg.anomalies.hold_exports is False
    assert cfg.anomalies.rule("events").dispersion > 1
    assert (
        cfg.anomalies.rule("events", "country").min_change > cfg.anomalies.rule("events").min_change
    )
    # a dimension rule starts from its metric's rule
    assert (
        cfg.anomalies.rule("events", "country").dispersion
        >= cfg.anomalies.rule("events").dispersion
    )
    assert cfg.anomalies.rule("orders", "device") == cfg.anomalies.rule("orders")


def test_no_file_means_the_defaults(tailor_env, tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    from tailor.settings import get_settings

    assert load_config(get_settings()).anomalies == AnomalyConfig()


def test_tailor_config_points_at_another_file(tailor_env, tmp_path, monkeypatch):
    path = tmp_path / "night.yml"
    path.write_text("anomalies:\n  hold_exports: true\n  weeks: 6\n")
    monkeypatch.setenv("TAILOR_CONFIG", str(path))
    cfg = load_config(tailor_env)
    assert (cfg.anomalies.hold_exports, cfg.anomalies.weeks) == (True, 6)
    monkeypatch.setenv("TAILOR_CONFIG", str(tmp_path / "missing.yml"))
    with pytest.raises(ConfigError, match="missing.yml: configuration file not found"):
        load_config(tailor_env)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"anomalies": {"metrics": {"events": {"warning_z": "high"}}}},
            r"anomalies\.metrics\.events\.warning_z: expected a number",
        ),
        (
            {"anomalies": {"metrics": {"events": {"treshold": 3}}}},
            r"anomalies\.metrics\.events\.treshold: unknown key",
        ),
        (
            {"anomalies": {"hold_exports": "yes"}},
            r"anomalies\.hold_exports: expected true or false",
        ),
        ({"anomalies": {"weeks": 0}}, r"anomalies\.weeks: must be at least 1"),
        ({"anomalies": {"defaults": {"direction": "sideways"}}}, r"anomalies\.defaults\.direction"),
        (
            {"anomalies": {"defaults": {"warning_z": 8, "critical_z": 4}}},
            r"anomalies\.defaults\.critical_z",
        ),
        ({"anomalies": ["weeks"]}, r"anomalies: expected a mapping"),
        ({"anomalise": {}}, r"unknown section 'anomalise'"),
        (["anomalies"], r"expected a mapping of sections"),
    ],
)
def test_errors_name_the_key(doc, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(doc)


def test_a_broken_file_is_a_config_error_naming_the_file(tailor_env, tmp_path):
    path = tmp_path / "tailor.yml"
    path.write_text("anomalies: [unclosed\n")
    with pytest.raises(ConfigError, match=r"tailor.yml, line 2, column 1: not valid YAML"):
        load_config(tailor_env, path)


def test_a_misspelt_metric_is_named_with_its_file_and_line(tailor_env, tmp_path, monkeypatch):
    """The metric names are checked where the metrics are defined (tailor.anomalies), and
    ``tailor run`` checks them before the night starts."""
    from tailor.anomalies import anomaly_config

    path = tmp_path / "tailor.yml"
    path.write_text(
        "anomalies:\n  metrics:\n    events: {}\n    evnts.device:\n      min_change: 1\n"
    )
    monkeypatch.setenv("TAILOR_CONFIG", str(path))
    with pytest.raises(
        ConfigError, match=r"tailor.yml, line 4: anomalies\.metrics\.evnts\.device: unknown metric"
    ):
        anomaly_config(tailor_env)
    path.write_text("anomalies:\n  metrics:\n    events.device: {min_change: 1}\n")
    assert anomaly_config(tailor_env).rule("events", "device").min_change == 1
