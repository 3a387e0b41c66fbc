"""The recommend: section of config/tailor.yml: every option documented in the project's
file reaches RecommendConfig, and a wrong value is an error that names the key."""

from __future__ import annotations

import dataclasses

import pytest

from ml.recommend import RecommendConfig
from ml.recommend.job import configured
from ml.recommend.models import FAMILIES
from tailor.config import RECOMMEND_MODELS, ConfigError, load_config, parse_config

pytestmark = pytest.mark.unit


def test_the_projects_file_sets_the_job_options(tailor_env):
    config = configured(tailor_env)
    defaults = RecommendConfig()
    assert config == dataclasses.replace(defaults, **load_config(tailor_env).recommend.values)
    assert config.models == ("ease", "rp3beta", "hybrid") and config.exclude_viewed is None
    # a command's option wins over the file
    assert configured(tailor_env, {"k": 4}).k == 4


def test_a_setting_changes_the_config(tmp_path, tailor_env, monkeypatch):
    path = tmp_path / "tailor.yml"
    path.write_text(
        "recommend:\n  k: 5\n  exclude_viewed: true\n  half_life_days: 0\n"
        "  weights: {purchase: 10}\n  holdout_count: 2\n  models: [ease]\n"
    )
    monkeypatch.setenv("TAILOR_CONFIG", str(path))
    config = configured(tailor_env)
    assert (config.k, config.exclude_viewed, config.holdout_count) == (5, True, 2)
    assert config.models == ("ease",)
    filled = config.with_dbt_vars(None)
    assert filled.half_life_days == 0  # no decay, not the dbt default
    assert filled.weights == {"view": 1.0, "cart": 3.0, "purchase": 10.0}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"k": 0}, "recommend.k: must be at least 1"),
        ({"k": "ten"}, "recommend.k: expected a whole number"),
        ({"exclude_viewed": "yes"}, "recommend.exclude_viewed: expected auto, true or false"),
        ({"models": ["xgboost"]}, "recommend.models: unknown 'xgboost'"),
        ({"holdout_share": 1.5}, "recommend.holdout_share: must be between 0 and 1"),
        ({"confidence": 0}, "recommend.confidence: must be between 0 and 1"),
        ({"weights": {"click": 1}}, "recommend.weights.click: unknown key"),
        ({"max_ndcg_drop": 2}, "recommend.max_ndcg_drop"),
        ({"holdout": 3}, "recommend.holdout: unknown key"),
    ],
)
def test_errors_name_the_key(doc, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"recommend": doc})


def test_the_config_knows_the_models_the_job_knows():
    assert set(RECOMMEND_MODELS) == set(FAMILIES)
