"""The dbt docs, published as one self-contained HTML file beside the run reports."""

from __future__ import annotations

from pathlib import Path

from tailor.report.pages import atomic_write
from tailor.settings import Settings, get_settings


def publish_dbt_docs(settings: Settings | None = None) -> Path:
    """Generate the dbt docs and publish them as one self-contained HTML file.

    ``dbt docs generate --static`` inlines the manifest and the catalog into
    ``target/static_index.html``, which opens from disk without a server; it is copied
    atomically to ``<reports>/dbt_docs/index.html``. dbt opens the warehouse to read the
    catalog, so run this where the pipeline may open it (after commit, not beside a run).
    """
    from tailor import transform

    s = settings or get_settings()
    # the project as the night's build parsed it (dbt's saved parse is keyed on the
    # profile, whose path differs here from the build's working copy: parsing again would
    # cost a full parse, ~5 s)
    transform.run_dbt(
        ["docs", "generate", "--static"], settings=s, manifest=transform.parsed_manifest(s)
    )
    source = s.data / "dbt" / "target" / "static_index.html"
    if not source.exists():
        raise FileNotFoundError(f"dbt docs generate --static wrote no {source}")
    return atomic_write(s.reports / "dbt_docs" / "index.html", source.read_bytes())
