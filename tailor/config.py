"""What a deployment tunes, from ``config/tailor.yml`` (``TAILOR_CONFIG`` overrides the path).

The file has one top-level section per concern; each section is read by its own small
parser into a frozen dataclass, and the whole file is validated before anything uses it,
with errors that name the key (``anomalies.metrics.events.warning_z: expected a number``).
A missing file or section means the defaults. To add a section: write its dataclass and a
``_parse_<section>(doc, where)`` function and register it in ``SECTIONS``.

::

    from tailor.config import load_config

    cfg = load_config(settings)          # TailorConfig
    cfg.anomalies.rule("events")         # the thresholds of one metric
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tailor.settings import Settings

DIRECTIONS = ("both", "up", "down")


class ConfigError(ValueError):
    """``config/tailor.yml`` is invalid; the message names the file and the key."""


# --------------------------------------------------------------------------- YAML files


# libyaml's safe loader when PyYAML was built with it: the same documents, ~10x faster
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path, error: type[Exception] = ConfigError) -> Any:
    """Parse a YAML configuration file; a syntax error becomes one line naming the file,
    line and column (``error``, e.g. the exports' own ConfigError)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=FAST_LOADER)  # a night reads the file ~10 times
    except yaml.YAMLError:
        pass  # parsed again below for the pure-Python parser's message
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"{path}{at}: not valid YAML: {problem}") from None


def key_line(path: Path, keys: list[str | int]) -> int | None:
    """The line (1-based) of the key (or list item) ``keys`` leads to in a YAML file, e.g.
    ``["anomalies", "metrics", "events", "warning_z"]``; None when it is not there."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    line = None
    for key in keys:
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if not 0 <= key < len(node.value):
                return None
            node = node.value[key]
            line = node.start_mark.line + 1
        elif isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if str(k.value) == str(key)]
            if not found:
                return None
            line = found[0][0].start_mark.line + 1
            node = found[0][1]
        else:
            return None
    return line


def _dotted_line(path: Path, dotted: str, prefix: tuple[str, ...] = ()) -> int | None:
    """:func:`key_line` of a key written ``section.key.sub``, whose keys may hold dots
    themselves (metric names such as ``events.device``): the longest key that exists
    first; the line of the deepest key found."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        keys = (*prefix, ".".join(parts[:cut]))
        line = key_line(path, list(keys))
        if line is not None:
            rest = ".".join(parts[cut:])
            return (_dotted_line(path, rest, keys) if rest else None) or line
    return None


def config_path(settings: Settings) -> Path:
    env = os.environ.get("TAILOR_CONFIG")
    if env:
        return Path(env).resolve()
    return settings.home / "config" / "tailor.yml"


# --------------------------------------------------------------------------- anomalies


@dataclass(frozen=True)
class MetricRule:
    """When a metric's value of the day is an anomaly (see ``tailor.anomalies.detect``).

    The expected value comes from the weekly pattern and the trend of the past weeks, its
    spread from 1.4826 x the median absolute residual (floored, see
    ``tailor.anomalies.detect``). A
    value is flagged when it lies more than ``warning_z`` spreads away (``critical_z`` for
    a critical anomaly) and differs from the median by at least ``min_change`` (relative)
    and ``min_change_abs`` (absolute). Series whose median is under ``min_expected`` (and
    whose value is too) are not judged: a handful of events is noise. ``dispersion`` is the
    variance-to-mean ratio of a count, for its noise floor.
    """

    warning_z: float = 5.0
    critical_z: float = 10.0
    min_change: float = 0.3
    min_change_abs: float = 0.0
    min_expected: float = 30.0
    dispersion: float = 1.0  # variance / mean of a count (1 = Poisson; events come in sessions)
    direction: str = "both"  # both | up | down
    enabled: bool = True


@dataclass(frozen=True)
class AnomalyConfig:
    enabled: bool = True
    weeks: int = 4  # weeks of history a day is compared with
    min_history: int = 14  # days of history needed before a series is judged
    hold_exports: bool = False  # a critical anomaly on an input metric holds the exports
    notify: bool = True  # post anomalies to TAILOR_ALERT_WEBHOOK (when set)
    defaults: MetricRule = field(default_factory=MetricRule)
    metrics: Mapping[str, MetricRule] = field(default_factory=dict)

    def rule(self, metric: str, dimension: str = "all") -> MetricRule:
        """The thresholds of a metric's series along ``dimension``: ``metric.dimension`` if
        configured, else ``metric``, else the defaults."""
        return self.metrics.get(f"{metric}.{dimension}") or self.metrics.get(metric, self.defaults)


def _number(doc: Mapping[str, Any], key: str, where: str, default: float, *, low: float = 0.0):
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
    if value < low:
        raise ConfigError(f"{where}.{key}: must be at least {low:g}, got {value!r}")
    return float(value)


def _integer(doc: Mapping[str, Any], key: str, where: str, default: int, *, low: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}.{key}: expected a whole number, got {value!r}")
    if value < low:
        raise ConfigError(f"{where}.{key}: must be at least {low}, got {value!r}")
    return value


def _flag(doc: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _unknown(doc: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(str(k) for k in doc if k not in known)
    if extra:
        raise ConfigError(f"{where}.{extra[0]}: unknown key (known: {', '.join(sorted(known))})")


def _parse_rule(doc: Mapping[str, Any], where: str, base: MetricRule) -> MetricRule:
    doc = _mapping(doc, where)
    _unknown(doc, {f.name for f in dataclasses.fields(MetricRule)}, where)
    direction = doc.get("direction", base.direction)
    if direction not in DIRECTIONS:
        raise ConfigError(f"{where}.direction: expected one of {', '.join(DIRECTIONS)}")
    rule = MetricRule(
        warning_z=_number(doc, "warning_z", where, base.warning_z, low=0.5),
        critical_z=_number(doc, "critical_z", where, base.critical_z, low=0.5),
        min_change=_number(doc, "min_change", where, base.min_change),
        min_change_abs=_number(doc, "min_change_abs", where, base.min_change_abs),
        min_expected=_number(doc, "min_expected", where, base.min_expected),
        dispersion=_number(doc, "dispersion", where, base.dispersion, low=1.0),
        direction=direction,
        enabled=_flag(doc, "enabled", where, base.enabled),
    )
    if rule.critical_z < rule.warning_z:
        raise ConfigError(f"{where}.critical_z: must be at least warning_z ({rule.warning_z:g})")
    return rule


def _parse_anomalies(doc: Any, where: str) -> AnomalyConfig:
    """The section's rules; the metric names are checked where the metrics are defined
    (``tailor.anomalies.anomaly_config``)."""
    doc = _mapping(doc, where)
    _unknown(doc, {f.name for f in dataclasses.fields(AnomalyConfig)}, where)
    defaults = _parse_rule(doc.get("defaults"), f"{where}.defaults", MetricRule())
    metrics: dict[str, MetricRule] = {}
    given = _mapping(doc.get("metrics"), f"{where}.metrics")
    # metric rules first: a "metric.dimension" rule starts from its metric's rule
    for name in sorted(given, key=lambda n: ("." in str(n), str(n))):
        metric = str(name).split(".")[0]
        base = metrics.get(metric, defaults)
        metrics[str(name)] = _parse_rule(given[name], f"{where}.metrics.{name}", base)
    return AnomalyConfig(
        enabled=_flag(doc, "enabled", where, True),
        weeks=_integer(doc, "weeks", where, AnomalyConfig.weeks, low=1),
        min_history=_integer(doc, "min_history", where, AnomalyConfig.min_history, low=1),
        hold_exports=_flag(doc, "hold_exports", where, AnomalyConfig.hold_exports),
        notify=_flag(doc, "notify", where, AnomalyConfig.notify),
        defaults=defaults,
        metrics=metrics,
    )


# --------------------------------------------------------------------------- recommend


# the candidate models ml.recommend knows (its ``models.FAMILIES``; a test keeps them equal)
RECOMMEND_MODELS = ("ease", "itemknn", "rp3beta", "content", "history", "hybrid", "als")


@dataclass(frozen=True)
class RecommendOptions:
    """The ``recommend:`` section, validated: only the options the file sets, by the
    name of ``ml.recommend.RecommendConfig``'s field; the job's defaults fill the rest."""

    values: Mapping[str, Any] = field(default_factory=dict)


def _fraction(doc: Mapping[str, Any], key: str, where: str, *, high: float) -> float:
    value = _number(doc, key, where, 0.0)
    if not 0.0 < value < high:
        raise ConfigError(
            f"{where}.{key}: must be between 0 and {high:g} (exclusive), got {value!r}"
        )
    return value


def _names(doc: Mapping[str, Any], key: str, where: str, known: tuple[str, ...] | None) -> tuple:
    value = doc.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}.{key}: expected a list of names, got {value!r}")
    for v in value:
        if known is not None and v not in known:
            raise ConfigError(f"{where}.{key}: unknown {v!r} (known: {', '.join(known)})")
    return tuple(value)


def _parse_recommend(doc: Any, where: str) -> RecommendOptions:
    doc = _mapping(doc, where)
    integers = {  # key -> smallest value
        "k": 1,
        "max_per_category": 1,
        "min_history": 2,
        "min_holdout_users": 1,
        "bootstrap_resamples": 100,
        "similar_items": 1,
        "candidate_pool": 1,
        "ease_max_items": 1,
        "refit_every_days": 1,
    }
    optional_integers = {"holdout_count": 1, "max_eval_users": 1, "retention_days": 0}
    flags = ("exclude_purchased", "require_personalization_consent", "tune")
    numbers = (
        "max_ndcg_drop",
        "min_lift",
        "half_life_days",
        "max_ndcg_drift",
        "max_catalog_change",
        "max_customer_change",
    )
    known = {
        *integers,
        *optional_integers,
        *flags,
        *numbers,
        "exclude_viewed",
        "holdout_share",
        "confidence",
        "models",
        "repeat_purchase_categories",
        "relevant_kinds",
        "weights",
    }
    _unknown(doc, known, where)
    out: dict[str, Any] = {}
    for key in doc:
        if key in integers:
            out[key] = _integer(doc, key, where, 0, low=integers[key])
        elif key in optional_integers:
            out[key] = _optional_integer(doc, key, where, None, low=optional_integers[key])
        elif key in flags:
            out[key] = _flag(doc, key, where, True)
        elif key in numbers:
            out[key] = _number(doc, key, where, 0.0)
        elif key == "exclude_viewed":
            value = doc[key]
            if value not in (True, False, "auto"):
                raise ConfigError(f"{where}.{key}: expected auto, true or false, got {value!r}")
            out[key] = None if value == "auto" else value
        elif key in ("holdout_share", "confidence"):
            out[key] = _fraction(doc, key, where, high=1.0)
        elif key == "models":
            out[key] = _names(doc, key, where, RECOMMEND_MODELS)
        elif key == "relevant_kinds":
            out[key] = _names(doc, key, where, ("view", "cart", "purchase"))
        elif key == "repeat_purchase_categories":
            out[key] = _names(doc, key, where, None) if doc[key] else ()
        elif key == "weights":
            given = _mapping(doc[key], f"{where}.weights")
            _unknown(given, {"view", "cart", "purchase"}, f"{where}.weights")
            out[key] = {k: _number(given, k, f"{where}.weights", 0.0) for k in given}
    for key in ("max_ndcg_drop", "max_ndcg_drift"):
        if out.get(key, 0.0) > 1.0:
            raise ConfigError(f"{where}.{key}: a share of the previous NDCG, at most 1")
    return RecommendOptions(out)


# --------------------------------------------------------------------------- propensity

VALUE_MODELS = ("auto", "classifier", "bgnbd")


@dataclass(frozen=True)
class PropensitySettings:
    """The propensity and customer-value job (``ml.propensity``, ``ml.value``).

    ``horizons``: the N of "buys / churns in the next N days", each scored side by side in
    ``ml.propensity_scores`` (the first is the primary one: customer_360's scores and the
    ``propensity_<model>_decile_<d>`` audiences). ``short_history_horizon``: while the
    history is too short for every configured horizon, this shorter one is scored instead
    (None: nothing is scored until then). ``value_model``: how ``ml.customer_value``'s
    purchase probability is chosen (``auto``: the classifier, BG/NBD or their blend,
    whichever scores best on the validation cutoff). ``refit_every_days``: the refit
    cadence (``ml.propensity.cadence``; 1: every night); a refit is forced earlier when the
    stored model's AUC falls by more than ``max_auc_drop`` or its calibration error rises
    by more than ``max_calibration_drift`` on the newest matured labels, or the customers
    scored grew by more than ``max_customer_change`` (a share).
    """

    # plain defaults, one frozen dataclass per section (the parser below reads each key)
    horizons: tuple[int, ...] = (30, 90)
    short_history_horizon: int | None = 7
    train_cutoffs: int = 2
    stride_days: int = 7
    min_history_days: int = 7
    min_rows: int = 200
    min_positives: int = 20
    retention_days: int | None = 35
    value_model: str = "auto"
    refit_every_days: int = 7
    max_auc_drop: float = 0.05
    max_calibration_drift: float = 0.05
    max_customer_change: float = 0.25


def _optional_integer(
    doc: Mapping[str, Any], key: str, where: str, default: int | None, *, low: int
) -> int | None:
    if doc.get(key, default) is None:
        return None
    return _integer(doc, key, where, default if default is not None else low, low=low)


def _horizons(doc: Mapping[str, Any], where: str, default: tuple[int, ...]) -> tuple[int, ...]:
    value = doc.get("horizons", list(default))
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}.horizons: expected a list of days, e.g. [30, 90]")
    out: list[int] = []
    for i, h in enumerate(value):
        if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= 730:
            raise ConfigError(
                f"{where}.horizons: item {i + 1} must be whole days in 1..730, got {h!r}"
            )
        if h in out:
            raise ConfigError(f"{where}.horizons: {h} is listed twice")
        out.append(h)
    return tuple(out)


def _parse_propensity(doc: Any, where: str) -> PropensitySettings:
    doc = _mapping(doc, where)
    _unknown(doc, {f.name for f in dataclasses.fields(PropensitySettings)}, where)
    d = PropensitySettings()
    value_model = doc.get("value_model", d.value_model)
    if value_model not in VALUE_MODELS:
        raise ConfigError(f"{where}.value_model: expected one of {', '.join(VALUE_MODELS)}")
    return PropensitySettings(
        horizons=_horizons(doc, where, d.horizons),
        short_history_horizon=_optional_integer(
            doc, "short_history_horizon", where, d.short_history_horizon, low=1
        ),
        train_cutoffs=_integer(doc, "train_cutoffs", where, d.train_cutoffs, low=1),
        stride_days=_integer(doc, "stride_days", where, d.stride_days, low=1),
        min_history_days=_integer(doc, "min_history_days", where, d.min_history_days, low=0),
        min_rows=_integer(doc, "min_rows", where, d.min_rows, low=10),
        min_positives=_integer(doc, "min_positives", where, d.min_positives, low=1),
        retention_days=_optional_integer(doc, "retention_days", where, d.retention_days, low=1),
        value_model=value_model,
        refit_every_days=_integer(doc, "refit_every_days", where, d.refit_every_days, low=1),
        max_auc_drop=_number(doc, "max_auc_drop", where, d.max_auc_drop),
        max_calibration_drift=_number(doc, "max_calibration_drift", where, d.max_calibration_drift),
        max_customer_change=_number(doc, "max_customer_change", where, d.max_customer_change),
    )


# --------------------------------------------------------------------------- segments


@dataclass(frozen=True)
class SegmentSettings:
    """The segmentation job (``ml.segmentation``) and the absolute thresholds its segment
    names rest on (``ml.segmentation.naming``): a customer is *new* for ``new_days`` after
    their first order or visit, an order is *recent* within ``recent_days``, a buyer is
    *lapsing* after ``lapsing_days`` without an order, *frequent* from ``frequent_orders``
    orders, and *high-value* from ``high_value_ratio`` times the median buyer's spend."""

    # plain defaults, one frozen dataclass per section (the parser below reads each key)
    k_min: int = 4
    k_max: int = 10
    refit_every_days: int = 7
    max_inertia_growth: float = 1.25
    min_customers: int = 50
    retention_days: int | None = 35
    new_days: int = 60
    recent_days: int = 45
    lapsing_days: int = 120
    frequent_orders: float = 4.0
    high_value_ratio: float = 2.0


def _parse_segments(doc: Any, where: str) -> SegmentSettings:
    doc = _mapping(doc, where)
    _unknown(doc, {f.name for f in dataclasses.fields(SegmentSettings)}, where)
    d = SegmentSettings()
    out = SegmentSettings(
        k_min=_integer(doc, "k_min", where, d.k_min, low=2),
        k_max=_integer(doc, "k_max", where, d.k_max, low=2),
        refit_every_days=_integer(doc, "refit_every_days", where, d.refit_every_days, low=1),
        max_inertia_growth=_number(doc, "max_inertia_growth", where, d.max_inertia_growth, low=1.0),
        min_customers=_integer(doc, "min_customers", where, d.min_customers, low=3),
        retention_days=_optional_integer(doc, "retention_days", where, d.retention_days, low=1),
        new_days=_integer(doc, "new_days", where, d.new_days, low=1),
        recent_days=_integer(doc, "recent_days", where, d.recent_days, low=1),
        lapsing_days=_integer(doc, "lapsing_days", where, d.lapsing_days, low=1),
        frequent_orders=_number(doc, "frequent_orders", where, d.frequent_orders, low=1.0),
        high_value_ratio=_number(doc, "high_value_ratio", where, d.high_value_ratio, low=1.0),
    )
    if out.k_max < out.k_min:
        raise ConfigError(f"{where}.k_max: must be at least k_min ({out.k_min})")
    if out.lapsing_days <= out.recent_days:
        raise ConfigError(
            f"{where}.lapsing_days: must be more than recent_days ({out.recent_days})"
        )
    return out


# --------------------------------------------------------------------------- erasure


@dataclass(frozen=True)
class ErasureSettings:
    """When the physical part of an erasure runs (``tailor.privacy.physical``). The person
    leaves every table, export and the snapshot the night a request arrives; the files
    that can still hold their bytes (landing files, local export copies, reports and logs,
    free blocks of the warehouse file) are cleaned for every pending request together, by
    the night before the oldest request's ``physical_deadline_days`` run out. Landing
    partitions loaded more than ``landing_retention_days`` days before the night are
    deleted by it (None: kept for ever), which bounds what that pass searches."""

    physical_deadline_days: int = 7
    landing_retention_days: int | None = 90


def _parse_erasure(doc: Any, where: str) -> ErasureSettings:
    doc = _mapping(doc, where)
    _unknown(doc, {f.name for f in dataclasses.fields(ErasureSettings)}, where)
    d = ErasureSettings()
    out = ErasureSettings(
        physical_deadline_days=_integer(
            doc, "physical_deadline_days", where, d.physical_deadline_days, low=1
        ),
        landing_retention_days=_optional_integer(
            doc, "landing_retention_days", where, d.landing_retention_days, low=1
        ),
    )
    if out.physical_deadline_days > 30:
        raise ConfigError(
            f"{where}.physical_deadline_days: must be at most 30 (the legal limit is a month)"
        )
    return out


# --------------------------------------------------------------------------- the file


@dataclass(frozen=True)
class TailorConfig:
    anomalies: AnomalyConfig = field(default_factory=AnomalyConfig)
    recommend: RecommendOptions = field(default_factory=RecommendOptions)
    propensity: PropensitySettings = field(default_factory=PropensitySettings)
    segments: SegmentSettings = field(default_factory=SegmentSettings)
    erasure: ErasureSettings = field(default_factory=ErasureSettings)
    path: Path | None = None


# section name -> parser(document of the section, where) -> the section's dataclass
SECTIONS: dict[str, Callable[[Any, str], Any]] = {
    "anomalies": _parse_anomalies,
    "recommend": _parse_recommend,
    "propensity": _parse_propensity,
    "segments": _parse_segments,
    "erasure": _parse_erasure,
}


def parse_config(doc: Any, where: str = "tailor.yml", path: Path | None = None) -> TailorConfig:
    """Validate a parsed ``tailor.yml`` document (a mapping of sections)."""
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: expected a mapping of sections at the top level")
    unknown = sorted(str(k) for k in doc if k not in SECTIONS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown section {unknown[0]!r} (known: {', '.join(sorted(SECTIONS))})"
        )
    sections = {name: parse(doc.get(name), name) for name, parse in SECTIONS.items()}
    return TailorConfig(**sections, path=path)


def load_config(settings: Settings, path: Path | str | None = None) -> TailorConfig:
    """Read and validate ``config/tailor.yml`` (or ``TAILOR_CONFIG``, or ``path``); no file
    means every default."""
    p = Path(path) if path is not None else config_path(settings)
    if not p.exists():
        if path is not None or os.environ.get("TAILOR_CONFIG"):
            raise ConfigError(f"{p}: configuration file not found")
        return TailorConfig()
    doc = read_yaml(p)
    try:
        return parse_config(doc, p.name, p)
    except ConfigError as exc:
        raise located(p, exc) from None


def located(path: Path, exc: ConfigError) -> ConfigError:
    """``exc`` (``anomalies.metrics.events.warning_z: expected a number``) naming the file
    and the line of its key."""
    key = str(exc).split(": ", 1)[0]
    line = _dotted_line(path, key) if key != path.name else None
    return ConfigError(f"{path}{f', line {line}' if line else ''}: {exc}")
