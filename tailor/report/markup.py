"""The report's HTML pieces: every value from data goes through ``esc`` (formatted, e-mail
addresses masked, HTML-escaped); ``table``, ``na`` and ``status_class`` build the page from
escaped text; ``render_template`` fills a page template of ``templates/``, escaping the
values given as text and taking as markup only what this package built."""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


def redact(text: str) -> str:
    """Mask anything that looks like an e-mail address."""
    return _EMAIL.sub("[email]", text)


def esc(value: Any) -> str:
    """A value as escaped HTML text (numbers formatted, e-mail addresses masked)."""
    return html.escape(redact(fmt(value)), quote=True)


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:,.2f}"
        return f"{value:.4f}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _short(value: Any, limit: int = 240) -> str:
    text = fmt(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct(part: float | None, whole: float | None) -> str:
    if not whole or part is None:
        return ""
    return f"{100.0 * part / whole:.1f}%"


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Iterable[int] = (),
    raw: Iterable[int] = (),
    css: str = "",
) -> str:
    """An HTML table; cells are escaped except the columns in ``raw`` (already HTML)."""
    numeric, raw = set(numeric), set(raw)
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = v if i in raw else esc(v)
            cells.append(f'<td class="num">{text}</td>' if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = f' class="{css}"' if css else ""
    return (
        f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def status_class(status: str) -> str:
    """The CSS class of a run status: ok, warn (committed, but a model fell back or was
    skipped) or bad."""
    if status in ("succeeded", "success"):
        return "ok"
    if status == "warning":
        return "warn"
    return "bad" if "fail" in status else ""


def na(what: str = "not available") -> str:
    return f'<p class="na">{esc(what)}</p>'


@cache
def _template(name: str) -> string.Template:
    return string.Template(
        resources.files(__package__).joinpath("templates", name).read_text("utf-8")
    )


def render_template(name: str, *, text: Mapping[str, Any], markup: Mapping[str, str]) -> str:
    """The template ``templates/<name>`` with its ``$placeholders`` filled: the ``text``
    values escaped with ``esc``, the ``markup`` values (HTML this package built from escaped
    values) as they are. A placeholder left unfilled is an error."""
    values = {k: esc(v) for k, v in text.items()}
    values.update(markup)
    return _template(name).substitute(values)
