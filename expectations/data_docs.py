"""The Data Docs site the gates write (``<reports>/data_docs``): values from data
HTML-escaped before GX renders them, every page readable offline (the project's stylesheet
linked instead of GX's CDNs), and a plain-HTML list of every validation on the index.

:mod:`expectations.runner` renders the pages with GX and calls these; they need no GX.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tailor.settings import Settings, get_settings

DATA_DOCS_HISTORY = 500  # validation runs listed on the Data Docs index page


def data_docs_index(settings: Settings | None = None) -> Path:
    """Where the Data Docs site's front page is (once a validation has run)."""
    s = settings or get_settings()
    return s.reports / "data_docs" / "index.html"


def escape_for_data_docs(validation: Any) -> None:
    """HTML-escape, in place, every value from data in one suite's validation result: the
    ``result`` of each expectation (unexpected values, counts, rows and their column names,
    observed values) and its exception (messages quote values). The expectations' own
    configuration and the batch's metadata come from Tailor's code and are left as they
    are. Call it after the outcomes are read (they keep the values as they were)."""
    for r in validation.results:
        if r.result:
            r.result = _escaped(r.result)
        if r.exception_info:
            r.exception_info = _escaped(r.exception_info)


def _escaped(value: Any) -> Any:
    import html

    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict) and type(value) is not dict:
        # GX's own mapping types (exception info) keep their type and their fixed keys
        for k, v in list(value.items()):
            value[k] = _escaped(v)
        return value
    if isinstance(value, Mapping):
        return {_escaped(k) if isinstance(k, str) else k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


# What each suite page was rendered from (suite name -> fingerprint), beside the pages.
SUITE_PAGES_RECORD = ".tailor_suite_pages.json"


def suite_fingerprint(suite: Mapping[str, Any]) -> str:
    """A digest of what a suite page shows: the suite's JSON (its expectations, their
    arguments, severities and notes) without the ids GX draws anew for every validation,
    and the version of GX whose templates render it."""
    import hashlib

    from great_expectations import __version__ as gx_version

    def strip(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: strip(v) for k, v in value.items() if k != "id"}
        if isinstance(value, list | tuple):
            return [strip(v) for v in value]
        return value

    text = json.dumps([gx_version, strip(suite)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _suite_page(docs: Path, name: str) -> Path:
    return docs / "expectations" / Path(*name.split(".")).with_suffix(".html")


def suite_pages_to_render(settings: Settings, fingerprints: Mapping[str, str]) -> list[str]:
    """The suites (of ``fingerprints``: name -> :func:`suite_fingerprint`) whose Data Docs
    page is missing or was rendered from another version of the suite. A suite is the same
    night after night unless its code changes: its page need not be rendered again."""
    docs = data_docs_index(settings).parent
    try:
        done = json.loads((docs / SUITE_PAGES_RECORD).read_text())
    except (OSError, ValueError):
        done = {}
    return [
        name
        for name, fp in fingerprints.items()
        if done.get(name) != fp or not _suite_page(docs, name).exists()
    ]


def record_suite_pages(settings: Settings, fingerprints: Mapping[str, str]) -> None:
    """Note the suite pages just rendered (see :func:`suite_pages_to_render`)."""
    record = data_docs_index(settings).parent / SUITE_PAGES_RECORD
    try:
        done = json.loads(record.read_text())
    except (OSError, ValueError):
        done = {}
    done.update(fingerprints)
    tmp = record.with_name(f".{record.name}.tmp")
    tmp.write_text(json.dumps(done, indent=1, sort_keys=True))
    tmp.replace(record)


OFFLINE_BEGIN = "<!-- tailor:offline-index -->"
OFFLINE_END = "<!-- /tailor:offline-index -->"
OFFLINE_CSS = Path(__file__).parent / "static" / "data_docs_offline.css"
OFFLINE_CSS_TARGET = Path("static") / "styles" / "tailor_offline.css"


def _suite_status(doc: Mapping[str, Any]) -> str:
    """passed, warnings (only warning-level expectations failed: the run went on) or FAILED
    (a critical one failed), from a stored GX validation result."""
    if doc.get("success"):
        return "passed"
    failed = [r for r in doc.get("results") or [] if not r.get("success")]
    severities = {(r.get("expectation_config") or {}).get("severity") or "critical" for r in failed}
    return "warnings" if failed and severities == {"warning"} else "FAILED"


def localize_data_docs(settings: Settings, since: float | None = None) -> int:
    """Make every Data Docs page readable offline: write the project's stylesheet
    (``expectations/static/data_docs_offline.css``) beside the Data Docs and link it from
    each page that does not link it yet. GX's pages take their styles and icons from public
    CDNs; offline they are unstyled and their status icons empty. ``since`` (a
    ``time.time()``): only the pages written since then, for a site that grows every night.
    Returns the pages changed."""
    docs = data_docs_index(settings).parent
    if not docs.is_dir():
        return 0
    target = docs / OFFLINE_CSS_TARGET
    target.parent.mkdir(parents=True, exist_ok=True)
    css = OFFLINE_CSS.read_bytes()
    if not target.exists() or target.read_bytes() != css:
        target.write_bytes(css)
    changed = 0
    for page in docs.rglob("*.html"):
        if since is not None and page.stat().st_mtime < since:
            continue
        text = page.read_text(encoding="utf-8")
        if OFFLINE_CSS_TARGET.name in text or "</head>" not in text:
            continue
        href = Path(os.path.relpath(target, page.parent)).as_posix()
        link = f'<link rel="stylesheet" href="{href}">'
        tmp = page.with_name(f".{page.name}.tmp")
        tmp.write_text(text.replace("</head>", link + "</head>", 1), encoding="utf-8")
        tmp.replace(page)
        changed += 1
    return changed


def write_offline_index(settings: Settings) -> Path | None:
    """Add a plain-HTML list of every validation page to the Data Docs index.

    GX's index fills its tables with JavaScript from public CDNs, so on a machine without
    internet access the index is empty; this list (newest first: run, suite, status,
    expectations passed) needs nothing but the browser."""
    import html

    index = data_docs_index(settings)
    if not index.exists():
        return None
    docs = index.parent
    results = settings.data / "gx" / "validations"
    rows = []
    for page in (docs / "validations").rglob("*.html"):
        rel = page.relative_to(docs / "validations")
        status, passed = "see page", ""
        stored = results / rel.with_suffix(".json")
        if stored.exists():
            try:
                doc = json.loads(stored.read_text())
                status = _suite_status(doc)
                stats = doc.get("statistics") or {}
                passed = f"{stats.get('successful_expectations', '?')} / {stats.get('evaluated_expectations', '?')}"
            except (OSError, ValueError):
                pass
        parts = rel.parts  # <suite path...>/<run name>/<run time>/<batch>.html
        suite = ".".join(parts[:-3]) if len(parts) > 3 else str(rel.parent)
        run_name, run_time = (parts[-3], parts[-2]) if len(parts) >= 3 else ("", "")
        rows.append((run_time, run_name, suite, status, passed, page.relative_to(docs).as_posix()))
    rows.sort(reverse=True)
    body = "".join(
        f"<tr><td>{html.escape(t)}</td><td>{html.escape(r)}</td><td>{html.escape(su)}</td>"
        f'<td class="{ {"FAILED": "fail", "warnings": "warn"}.get(st, "ok") }">{st}</td><td>{html.escape(pa)}</td>'
        f'<td><a href="{html.escape(href)}">open</a></td></tr>'
        for t, r, su, st, pa, href in rows[:DATA_DOCS_HISTORY]
    )
    section = (
        f'{OFFLINE_BEGIN}<section style="margin:1em;font-family:sans-serif">'
        "<h3>Validation results (works offline)</h3>"
        "<style>.tl td,.tl th{padding:2px 8px;text-align:left}.tl .fail{color:#b00;font-weight:bold}.tl .warn{color:#b45309;font-weight:bold}</style>"
        '<table class="tl"><tr><th>run time</th><th>run</th><th>suite</th><th>status</th>'
        f"<th>passed / evaluated</th><th></th></tr>{body}</table></section>{OFFLINE_END}"
    )
    text = index.read_text()
    if OFFLINE_BEGIN in text:
        text = (
            text[: text.index(OFFLINE_BEGIN)] + text[text.index(OFFLINE_END) + len(OFFLINE_END) :]
        )
    text = text.replace("<body>", "<body>" + section, 1) if "<body>" in text else section + text
    tmp = index.with_name(f".{index.name}.tmp")
    tmp.write_text(text)
    tmp.replace(index)
    return index
