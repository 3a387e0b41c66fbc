"""What a benchmark process measures about itself and the machine: peak and sampled
resident memory, the machine's description and its load average."""

from __future__ import annotations

import os
import platform
import re
import resource
import threading
from pathlib import Path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Samples this process's resident memory in a thread; the peak per label."""

    def __init__(self, every: float = 0.05):
        self.every = every
        self.label = "start"
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = current_rss_mb()
            label = self.label
            if rss > self.peaks.get(label, 0.0):
                self.peaks[label] = rss
            self._stop.wait(self.every)

    def switch(self, label: str) -> None:
        rss = current_rss_mb()
        self.peaks[self.label] = max(self.peaks.get(self.label, 0.0), rss)
        self.label = label
        self.peaks[label] = max(self.peaks.get(label, 0.0), rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def machine() -> dict:
    import duckdb

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        ram_gb = round(kb / 2**20, 1)
    except (OSError, AttributeError):
        pass
    os_name = platform.platform()
    try:
        m = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())
        os_name = f"{m.group(1)} (Linux {platform.release()})" if m else os_name
    except OSError:
        pass
    try:
        from importlib.metadata import version

        dbt = version("dbt-core")
    except Exception:  # pragma: no cover - dbt missing
        dbt = "?"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "os": os_name,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "dbt": dbt,
    }


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"
