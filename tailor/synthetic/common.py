"""Small helpers shared by the generator: random streams per purpose, and how money,
timestamps, ids and CSV lines are written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
import zlib

import numpy as np


def _rng(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """An independent generator per purpose (and day), stable across versions of the plan."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, zlib.crc32(stream.encode()), *keys]))
    )


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _iso_seconds(ms: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=int(ms))).isoformat(
        timespec="seconds"
    ) + "Z"


def _iso_ms_list(ms: np.ndarray) -> list[str]:
    """ISO-8601 with milliseconds, no zone suffix, for a whole array at once."""
    return np.datetime_as_string(
        np.asarray(ms, dtype="int64").astype("datetime64[ms]"), unit="ms"
    ).tolist()


def _offset_str(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _uuid4_list(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    h = raw.tobytes().hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


def _ascii(text: str) -> str:
    text = text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    text = (
        text.replace("Ä", "Ae")
        .replace("Ö", "Oe")
        .replace("Ü", "Ue")
        .replace("ł", "l")
        .replace("Ł", "L")
    )
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _slug(text: str) -> str:
    out = []
    for ch in _ascii(text).lower():
        out.append(ch if ch.isalnum() else "-")
    return "-".join(p for p in "".join(out).split("-") if p)


def _choice_by_group(
    rng: np.random.Generator, group: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """For each element, draw an index from the weight row of its group (weights: groups x k)."""
    cum = np.cumsum(weights, axis=1)
    cum = cum / cum[:, -1:]
    u = rng.random(len(group))
    out = (u[:, None] >= cum[group]).sum(axis=1)
    return np.minimum(out, weights.shape[1] - 1)


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _csv_line(row: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()
