"""The generator's note beside the landing data (``<landing>/.tailor-generate.json``): the
parameters, seed and shape of the data set, its days and the consent incidents injected, so
``tailor generate --append N`` can add the next days with the same customers, products and
ids. The note is hidden (a dot file at the top of the landing zone), which the loader and
``tailor check`` ignore.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tailor.incidents import Incident, parse_incident
from tailor.synthetic.config import DirtConfig, GeneratorConfig

MANIFEST = ".tailor-generate.json"
VERSION = 1
# the options that define a data set; `days` grows with each --append
_PARAMETERS = ("customers", "products", "start", "seed", "anonymous_visitors", "dirt", "shape")


def _parameters(config: GeneratorConfig, shape: str) -> dict:
    d = config.as_dict()
    return {name: (shape if name == "shape" else d[name]) for name in _PARAMETERS}


def write_manifest(
    landing: Path, config: GeneratorConfig, shape: str, incidents: tuple[Incident, ...]
) -> Path:
    """Record the data set generated into ``landing`` (replacing any previous note)."""
    last = config.start + dt.timedelta(days=config.days - 1)
    note = {
        "version": VERSION,
        "parameters": _parameters(config, shape),
        "days": config.days,
        "last_day": last.isoformat(),
        "consent_incidents": [
            f"{inc.kind}:{inc.day.isoformat()}:{inc.magnitude!r}"
            for inc in incidents
            if inc.kind == "consent_banner_bug"
        ],
    }
    landing.mkdir(parents=True, exist_ok=True)
    path = landing / MANIFEST
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(note, indent=2) + "\n")
    tmp.replace(path)
    return path


def read_manifest(landing: Path) -> dict:
    """The note of the data set in ``landing``; a ValueError (one line) if there is none."""
    path = landing / MANIFEST
    try:
        note = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(
            f"no generated data set to append to in {landing} ({MANIFEST} is missing);"
            " run `tailor generate` first"
        ) from None
    except (OSError, ValueError):
        note = None
    if not (
        isinstance(note, dict)
        and note.get("version") == VERSION
        and isinstance(note.get("parameters"), dict)
        and set(note["parameters"]) == set(_PARAMETERS)
        and isinstance(note.get("days"), int)
        and isinstance(note.get("consent_incidents"), list)
    ):
        raise ValueError(f"{path} is not a note `tailor generate` wrote; cannot append")
    return note


def appended_config(
    landing: Path, requested: GeneratorConfig, shape: str, given: set[str], days: int
) -> tuple[GeneratorConfig, str, int]:
    """The config of the data set in ``landing`` extended by ``days`` days, its shape, and
    the first new day (0-based). ``given`` names the options the user set explicitly; each
    must agree with the data set, else a ValueError says which."""
    if days < 1:
        raise ValueError("--append takes a number of days >= 1")
    if "days" in given:
        raise ValueError("--append N adds N days to the data set; leave out --days")
    note = read_manifest(landing)
    params = note["parameters"]
    wanted = _parameters(requested, shape)
    for name in sorted(given & set(_PARAMETERS)):
        if wanted[name] != params[name]:
            shown = "the dirt rates" if name == "dirt" else f"{params[name]}"
            raise ValueError(
                f"--{name} contradicts the data set in {landing} (generated with {shown});"
                f" leave it out to append"
            )
    try:
        config = GeneratorConfig(
            customers=params["customers"],
            products=params["products"],
            days=note["days"] + days,
            start=dt.date.fromisoformat(params["start"]),
            seed=params["seed"],
            anonymous_visitors=params["anonymous_visitors"],
            dirt=DirtConfig(**params["dirt"]),
        )
        config.validate()
    except (TypeError, ValueError):
        raise ValueError(
            f"{landing / MANIFEST} holds parameters this version cannot read"
        ) from None
    return config, params["shape"], note["days"]


def consent_incidents(landing: Path) -> tuple[Incident, ...]:
    """The consent incidents injected into the data set so far (they number consent records)."""
    return tuple(parse_incident(s) for s in read_manifest(landing)["consent_incidents"])


def check_continues(landing: Path, config: GeneratorConfig, shape: str, first_day: int) -> None:
    """A ValueError unless ``config`` extends the data set in ``landing`` from ``first_day``."""
    note = read_manifest(landing)
    if note["parameters"] != _parameters(config, shape) or int(note["days"]) != first_day:
        raise ValueError(
            f"the data set in {landing} has other parameters or {note['days']} days;"
            f" cannot append from day {first_day + 1}"
        )
