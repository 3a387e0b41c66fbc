"""The scale benchmark behind ``python -m benchmarks.run`` (``tailor bench``), in parts: the
sizes and their generated data (``sizes``), the two reference points measured beside the
pipeline, DuckDB's lower bound and plain pandas (``references``), the timed nights of the
pipeline (``nights``), memory and machine probes (``measure``) and the summary and README
block of a results file (``report``). ``benchmarks/run.py`` runs the phases."""
