"""Erasure in the other files beside the warehouse that can quote a person: validation
results and Data Docs, run reports, the run log, Airflow task logs, the generator's
ground truth (:func:`redact_files`). Line files lose the lines that name the person;
documents get the identifiers replaced by ``[erased]``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from tailor.erased import Identity, written_forms
from tailor.privacy.landing import write_atomic
from tailor.privacy.matching import ERASED_MARK, needles_of
from tailor.settings import Settings

# The folders beside the warehouse that can hold a person's identifiers in text files:
# Great Expectations results and Data Docs (failure samples), run reports, the run log,
# Airflow task logs (failure messages), the generator's ground truth. Other folders under
# the data folder (benchmark scratch data, other data sets' warehouses) belong to other
# data sets and are left alone. Line-oriented files lose the lines that name the person;
# documents get the identifiers replaced by ERASED_MARK.
LINE_FILES = (".csv", ".jsonl", ".log", ".txt")
DOCUMENT_FILES = (".json", ".html", ".htm", ".md", ".yml", ".yaml")


def other_folders(settings: Settings) -> list[Path]:
    return [
        settings.data / "gx",
        settings.reports,
        settings.data / "runs",
        settings.ground_truth,
        settings.airflow_home / "logs",
    ]


def other_files(settings: Settings) -> Iterator[Path]:
    """The text files of :func:`other_folders` that :func:`redact_files` covers."""
    seen: set[Path] = set()
    for root in other_folders(settings):
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path in seen or not path.is_file():
                continue
            seen.add(path)
            if path.name.lower().endswith(LINE_FILES + DOCUMENT_FILES):
                yield path


def _token_regex(ident: Identity) -> re.Pattern[str] | None:
    """The person's identifiers, in every form a file writes them (JSON, CSV and HTML
    escaping: :func:`~tailor.erased.written_forms`), each a whole token."""
    toks = sorted(
        {f for t in ident.tokens() | ident.order_ids for f in written_forms(t)},
        key=len,
        reverse=True,
    )
    if not toks:
        return None
    alt = "|".join(re.escape(t) for t in toks)
    return re.compile(rf"(?<![A-Za-z0-9._%+-])(?:{alt})(?![A-Za-z0-9._%+-])", re.IGNORECASE)


def redact_files(settings: Settings, ident: Identity) -> tuple[int, int]:
    """Remove the person from every file of :func:`other_files`; returns (files changed,
    lines dropped or identifiers replaced)."""
    token_re = _token_regex(ident)
    if token_re is None:
        return 0, 0
    values = ident.tokens() | ident.order_ids | ident.event_ids | set(needles_of(ident))
    # the file is lower-cased as bytes (ASCII letters only): so are the needles, and
    # their Unicode lower case too
    forms = {f for v in values for f in written_forms(v)}
    needles = sorted({f.encode().lower() for f in forms} | {f.lower().encode() for f in forms})
    files = changes = 0
    for path in other_files(settings):
        data = path.read_bytes()
        low = data.lower()
        if not any(n in low for n in needles):
            continue
        text = data.decode("utf-8", errors="replace")
        if path.name.lower().endswith(LINE_FILES):
            lines = text.splitlines(keepends=True)
            kept = [ln for ln in lines if not token_re.search(ln)]
            n = len(lines) - len(kept)
            new = "".join(kept)
        else:
            new, n = token_re.subn(ERASED_MARK, text)
        if n:
            write_atomic(path, new.encode())
            files += 1
            changes += n
    return files, changes
