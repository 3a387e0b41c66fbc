"""Every path and option Tailor uses, resolved in one place.

Defaults live inside the project folder; environment variables override them:

===================  ==========================================  ============================
variable             meaning                                     default
===================  ==========================================  ============================
TAILOR_HOME          project root                                folder holding pyproject.toml
TAILOR_DATA          working data folder                         $TAILOR_HOME/data
TAILOR_WAREHOUSE     the DuckDB file the pipeline writes         $TAILOR_DATA/warehouse/tailor.duckdb
TAILOR_SNAPSHOT      read-only copy published for analysts       $TAILOR_DATA/warehouse/tailor_published.duckdb
TAILOR_LANDING       landing zone, <source>/dt=YYYY-MM-DD/       $TAILOR_DATA/landing
TAILOR_EXPORTS       audience export files                       $TAILOR_DATA/exports
TAILOR_GROUND_TRUTH  generator answers (never loaded)            $TAILOR_DATA/ground_truth
TAILOR_REPORTS       run reports and data docs                   $TAILOR_DATA/reports
AIRFLOW_HOME         Airflow's home                              $TAILOR_DATA/airflow
TAILOR_DUCKDB_MEMORY DuckDB memory_limit                         4GB
TAILOR_DUCKDB_THREADS DuckDB threads                             all cores
TAILOR_DATASETS      the public data sets                        $TAILOR_HOME/../shared/datasets
TAILOR_DBT_TARGET    dbt output the models build on (engines)   duckdb (or spark)
===================  ==========================================  ============================
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path


def _find_home() -> Path:
    env = os.environ.get("TAILOR_HOME")
    if env:
        return Path(env).resolve()
    # Installed in editable mode the package sits in the project; from anywhere else,
    # fall back to the working directory.
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd().resolve()


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).resolve() if value else default


@dataclass(frozen=True)
class Settings:
    home: Path
    data: Path
    warehouse: Path
    snapshot: Path
    landing: Path
    exports: Path
    ground_truth: Path
    reports: Path
    airflow_home: Path
    duckdb_temp: Path
    datasets: Path
    dbt_project: Path
    duckdb_memory_limit: str
    duckdb_threads: int | None
    dbt_target: str = "duckdb"

    @classmethod
    def from_env(cls) -> Settings:
        home = _find_home()
        data = _path("TAILOR_DATA", home / "data")
        warehouse = _path("TAILOR_WAREHOUSE", data / "warehouse" / "tailor.duckdb")
        threads = os.environ.get("TAILOR_DUCKDB_THREADS")
        return cls(
            home=home,
            data=data,
            warehouse=warehouse,
            snapshot=_path(
                "TAILOR_SNAPSHOT", warehouse.with_name(warehouse.stem + "_published.duckdb")
            ),
            landing=_path("TAILOR_LANDING", data / "landing"),
            exports=_path("TAILOR_EXPORTS", data / "exports"),
            ground_truth=_path("TAILOR_GROUND_TRUTH", data / "ground_truth"),
            reports=_path("TAILOR_REPORTS", data / "reports"),
            airflow_home=_path("AIRFLOW_HOME", data / "airflow"),
            duckdb_temp=_path("TAILOR_DUCKDB_TEMP", data / "tmp" / "duckdb"),
            datasets=_path("TAILOR_DATASETS", home.parent / "shared" / "datasets"),
            dbt_project=home / "dbt_project",
            duckdb_memory_limit=os.environ.get("TAILOR_DUCKDB_MEMORY", "4GB"),
            duckdb_threads=int(threads) if threads else None,
            dbt_target=os.environ.get("TAILOR_DBT_TARGET", "").strip() or "duckdb",
        )

    def as_dict(self) -> dict[str, str | int | None]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def get_settings() -> Settings:
    """Resolve the settings now (environment variables are read on every call)."""
    return Settings.from_env()
