"""Destinations: where each audience goes, in which format, under which consent.

Every destination lives in one YAML file (``config/destinations.yml``; ``TAILOR_DESTINATIONS``
overrides the path). The file is validated as a whole before anything is exported, so a typo
never half-runs a night. See the file itself for the format.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailor.config import key_line, read_yaml
from tailor.exports.apis import BUILDERS, Api, ApiConfigError, parse_api
from tailor.exports.formats import FORMATS, FieldSpec, parse_field
from tailor.settings import Settings
from tailor.sources import CONSENT_PURPOSES

MODES = ("full", "delta")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${VAR} in a webhook header value


class ConfigError(ValueError):
    """The destinations file is invalid; the message names the destination and the key."""


@dataclass(frozen=True)
class FrequencyCap:
    """A person is added to at most ``max_messages`` destinations in any ``window_days`` days
    (the run day included), across all audiences."""

    max_messages: int = 3
    window_days: int = 7


@dataclass(frozen=True)
class Webhook:
    url: str
    batch_size: int = 500
    max_attempts: int = 5
    backoff_seconds: float = 1.0  # first retry waits this long, then doubles
    max_backoff_seconds: float = 60.0
    timeout_seconds: float = 30.0
    headers: tuple[tuple[str, str], ...] = ()  # values may use ${ENV_VAR}

    def header_values(self, destination: str) -> dict[str, str]:
        """The headers with ``${VAR}`` replaced from the environment. A variable that is not
        set is a :class:`ConfigError` naming the destination, the header and the variable
        (never a header sent empty); the error never holds a value."""
        out = {}
        for name, value in self.headers:
            missing = [v for v in ENV_RE.findall(value) if v not in os.environ]
            if missing:
                raise ConfigError(
                    f"destination {destination!r}: webhook header {name!r} uses "
                    + ", ".join(f"${{{v}}}" for v in missing)
                    + (" which is" if len(missing) == 1 else " which are")
                    + " not set in the environment; set it, or disable the destination"
                )
            out[name] = ENV_RE.sub(lambda m: os.environ[m.group(1)], value)
        return out


@dataclass(frozen=True)
class Destination:
    name: str
    format: str
    audience: str
    consent: str  # the consent purpose a member must have granted, as of the run date
    mode: str  # full | delta
    output: str  # folder, relative to settings.exports unless absolute
    fields: tuple[FieldSpec, ...]
    key: tuple[str, ...]  # destination columns that identify a contact (sent with removes)
    capped: bool = True  # adds count toward (and are limited by) the frequency cap
    enabled: bool = True
    webhook: Webhook | None = None
    description: str = ""
    api: Api | None = None  # CRM formats: the tool's API (removes, unsubscribes, erasures)

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    def check_environment(self) -> None:
        """Raise :class:`ConfigError` if a webhook header names an unset variable."""
        if self.webhook is not None:
            self.webhook.header_values(self.name)
        if self.api is not None and self.api.base_url:
            try:
                self.api.token(self.name)
            except ApiConfigError as exc:
                raise ConfigError(str(exc)) from None

    @property
    def sends_api(self) -> bool:
        """The export is sent to the tool's API after publication."""
        return self.api is not None and bool(self.api.base_url)

    def output_dir(self, settings: Settings) -> Path:
        path = Path(self.output)
        return path if path.is_absolute() else settings.exports / path


@dataclass(frozen=True)
class ExportConfig:
    destinations: tuple[Destination, ...]
    frequency_cap: FrequencyCap = field(default_factory=FrequencyCap)
    path: Path | None = None

    def get(self, name: str) -> Destination:
        for d in self.destinations:
            if d.name == name:
                return d
        known = ", ".join(d.name for d in self.destinations) or "none"
        raise ConfigError(f"no destination named {name!r} (configured: {known})")

    def order(self, name: str) -> int:
        """Position in the file: earlier destinations claim a person's capped messages first."""
        return [d.name for d in self.destinations].index(name)


def destinations_path(settings: Settings) -> Path:
    configured = getattr(settings, "destinations", None)
    if configured:
        return Path(configured)
    env = os.environ.get("TAILOR_DESTINATIONS")
    if env:
        return Path(env).resolve()
    return settings.home / "config" / "destinations.yml"


def load_config(source: Path | str | Mapping[str, Any]) -> ExportConfig:
    """Read and validate a destinations file (a path, or the parsed mapping itself)."""
    path: Path | None = None
    if isinstance(source, Mapping):
        doc: Any = source
    else:
        path = Path(source)
        if not path.exists():
            raise ConfigError(f"{path}: destinations file not found")
        doc = read_yaml(path, ConfigError) or {}
    where = str(path) if path else "destinations"
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    unknown = set(doc) - {"version", "frequency_cap", "defaults", "destinations"}
    if unknown:
        where = _at(path, [min(unknown)], where)
        raise ConfigError(f"{where}: unknown top-level keys {sorted(unknown)}")
    if doc.get("version", 1) != 1:
        raise ConfigError(f"{where}: unsupported version {doc.get('version')!r} (expected 1)")
    cap = _parse_cap(doc.get("frequency_cap") or {}, where)
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"{where}: defaults must be a mapping")
    items = doc.get("destinations") or []
    if not isinstance(items, list):
        raise ConfigError(f"{where}: destinations must be a list")
    out: list[Destination] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: destination #{i + 1} must be a mapping")
        bad = sorted(set(item) - DESTINATION_KEYS)
        keys = ["destinations", i, *bad[:1]]
        out.append(
            _parse_destination(
                {**defaults, **item}, f"{_at(path, keys, where)}: destination #{i + 1}"
            )
        )
    names = [d.name for d in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{where}: duplicate destination names {dupes}")
    return ExportConfig(destinations=tuple(out), frequency_cap=cap, path=path)


def _at(path: Path | None, keys: list[str | int], where: str) -> str:
    """``where`` with the line of ``keys`` in the file, when known."""
    line = key_line(path, keys) if path else None
    return f"{where}, line {line}" if line else where


def _parse_cap(raw: Any, where: str) -> FrequencyCap:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: frequency_cap must be a mapping")
    unknown = set(raw) - {"max_messages", "window_days"}
    if unknown:
        raise ConfigError(f"{where}: frequency_cap has unknown keys {sorted(unknown)}")
    cap = FrequencyCap(
        max_messages=int(raw.get("max_messages", FrequencyCap.max_messages)),
        window_days=int(raw.get("window_days", FrequencyCap.window_days)),
    )
    if cap.max_messages < 0 or cap.window_days < 1:
        raise ConfigError(f"{where}: frequency_cap needs max_messages >= 0 and window_days >= 1")
    return cap


DESTINATION_KEYS = {
    "name",
    "format",
    "audience",
    "consent",
    "mode",
    "output",
    "fields",
    "key",
    "capped",
    "enabled",
    "webhook",
    "description",
    "api",
}


def _parse_destination(raw: Mapping[str, Any], where: str) -> Destination:
    unknown = set(raw) - DESTINATION_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    for required in ("name", "format", "audience", "consent"):
        if not raw.get(required):
            raise ConfigError(f"{where}: missing {required!r}")
    name = str(raw["name"])
    where = f"{where} ({name})"
    if not NAME_RE.match(name):
        raise ConfigError(f"{where}: name must be lower-case letters, digits and underscores")
    fmt_name = str(raw["format"])
    if fmt_name not in FORMATS:
        raise ConfigError(f"{where}: unknown format {fmt_name!r}; choose from {sorted(FORMATS)}")
    fmt = FORMATS[fmt_name]
    consent = str(raw["consent"])
    if consent not in CONSENT_PURPOSES:
        raise ConfigError(
            f"{where}: unknown consent purpose {consent!r}; choose from {list(CONSENT_PURPOSES)}"
        )
    mode = str(raw.get("mode", "delta"))
    if mode not in MODES:
        raise ConfigError(f"{where}: mode must be one of {list(MODES)}, got {mode!r}")
    raw_fields = raw.get("fields") or fmt.default_fields
    if not raw.get("fields") and consent != "email_marketing":
        # email_subscribe: opted_in says the person agreed to marketing email
        raw_fields = {k: v for k, v in raw_fields.items() if k != "email_subscribe"}
    if not isinstance(raw_fields, Mapping) or not raw_fields:
        raise ConfigError(f"{where}: fields must be a non-empty mapping of column: source")
    try:
        fields = tuple(parse_field(str(k), v) for k, v in raw_fields.items())
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    _check_flat_and_priced(fmt_name, fields, where)
    key = raw.get("key") or fmt.key
    key = (key,) if isinstance(key, str) else tuple(str(k) for k in key)
    missing = [k for k in key if k not in {f.name for f in fields}]
    if missing:
        raise ConfigError(f"{where}: key column(s) {missing} are not among the fields")
    webhook = None
    if fmt.kind == "webhook":
        webhook = _parse_webhook(raw.get("webhook"), where)
    elif raw.get("webhook"):
        raise ConfigError(f"{where}: 'webhook' settings only apply to the webhook format")
    api = None
    if raw.get("api") is not None:
        if fmt_name not in BUILDERS:
            raise ConfigError(f"{where}: 'api' settings apply to {sorted(BUILDERS)} only")
        try:
            api = parse_api(raw["api"], where)
        except ApiConfigError as exc:
            raise ConfigError(str(exc)) from None
    elif fmt_name in BUILDERS:
        api = Api()  # the requests are written (for the record, or to send by hand)
    if (
        api is not None
        and consent != "email_marketing"
        and "status_if_new" not in (raw.get("api") or {})
    ):
        api = dataclasses.replace(api, status_if_new="transactional")
    output = str(raw.get("output") or name)
    return Destination(
        name=name,
        format=fmt_name,
        audience=str(raw["audience"]),
        consent=consent,
        mode=mode,
        output=output,
        fields=fields,
        key=key,
        capped=bool(raw.get("capped", True)),
        enabled=bool(raw.get("enabled", True)),
        webhook=webhook,
        description=str(raw.get("description", "")),
        api=api,
    )


MONEY_RE = re.compile(r"^(?P<prefix>.*_)?price$")


def _check_flat_and_priced(fmt_name: str, fields: tuple[FieldSpec, ...], where: str) -> None:
    """Braze's CSV import takes flat values only (no JSON arrays of objects), and every price
    that leaves Tailor travels with its ISO 4217 currency (``<x>_price`` with
    ``<x>_currency``; a recommendations list carries it in each object)."""
    if fmt_name == "braze_csv":
        nested = [f.name for f in fields if f.kind == "recommendations"]
        if nested:
            raise ConfigError(
                f"{where}: {nested} would be a JSON array of objects, which Braze's CSV import"
                " does not accept; map flat columns instead (rec_1_id: rec_1_product_id,"
                " rec_1_title: rec_1_title, rec_1_price: rec_1_price, rec_1_currency: rec_1_currency)"
            )
    sources = set().union(*(f.columns() for f in fields if f.kind == "column")) if fields else set()
    for f in fields:
        for col in sorted(f.columns() if f.kind in ("column", "template") else ()):
            m = MONEY_RE.match(col)
            if not m:
                continue
            currency = f"{m.group('prefix') or ''}currency"
            ok = currency in (f.columns() if f.kind == "template" else sources)
            if not ok:
                raise ConfigError(
                    f"{where}: field {f.name!r} sends the amount {col!r} without its currency;"
                    f" add a field for {currency!r}"
                    + (" (beside it)" if f.kind == "column" else " in the same template")
                )


def _parse_webhook(raw: Any, where: str) -> Webhook:
    if not isinstance(raw, Mapping) or not raw.get("url"):
        raise ConfigError(f"{where}: the webhook format needs webhook: {{url: ...}}")
    unknown = set(raw) - {
        "url",
        "batch_size",
        "max_attempts",
        "backoff_seconds",
        "max_backoff_seconds",
        "timeout_seconds",
        "headers",
    }
    if unknown:
        raise ConfigError(f"{where}: webhook has unknown keys {sorted(unknown)}")
    url = str(raw["url"])
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: webhook url must be http(s), got {url!r}")
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise ConfigError(f"{where}: webhook headers must be a mapping")
    hook = Webhook(
        url=url,
        batch_size=int(raw.get("batch_size", Webhook.batch_size)),
        max_attempts=int(raw.get("max_attempts", Webhook.max_attempts)),
        backoff_seconds=float(raw.get("backoff_seconds", Webhook.backoff_seconds)),
        max_backoff_seconds=float(raw.get("max_backoff_seconds", Webhook.max_backoff_seconds)),
        timeout_seconds=float(raw.get("timeout_seconds", Webhook.timeout_seconds)),
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
    )
    if hook.batch_size < 1 or hook.max_attempts < 1:
        raise ConfigError(f"{where}: webhook batch_size and max_attempts must be >= 1")
    return hook
