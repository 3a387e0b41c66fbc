"""Tailor: an open personalization warehouse (load, model, validate, score, export, erase).

Dependencies point down only (``tests/unit/test_import_graph.py`` enforces it):
``tailor.cli`` and ``dags`` -> ``tailor.orchestration`` -> ``tailor.pipeline`` -> the stage
packages (``tailor.ingest``, ``tailor.transform``, ``expectations``, ``ml``,
``tailor.exports``, ``tailor.privacy``, ``tailor.anomalies``, ``tailor.publish``,
``tailor.report``, ...) -> the low modules (``tailor.settings``, ``tailor.config``,
``tailor.warehouse``, ``tailor.consent``, ``tailor.erased``, ``tailor.runlog``,
``tailor.runs``, ...).
"""
