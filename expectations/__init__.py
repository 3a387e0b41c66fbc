"""Tailor's Great Expectations gates: the suites (``expectations.suites``), how a layer is
validated and recorded (``expectations.runner``), the DuckDB data source
(``expectations.duckdb_source``) and the Data Docs (``expectations.data_docs``)."""

import sys

# Great Expectations imports pyspark's Spark Connect classes when pyspark is installed (the
# spark dependency group). pyspark's Connect package, imported from a process whose main
# module has no file (`python -c ...`, an embedded interpreter), takes itself for a doctest
# run and calls sys.exit(0): the process would end silently, with success, at the first
# gate. Tailor never hands Great Expectations a Spark Connect frame, so those two modules
# are marked absent for it (it then skips Connect support, as when pyspark is missing).
# A process that already imported them keeps them.
for _name in ("pyspark.sql.connect.dataframe", "pyspark.sql.connect.session"):
    sys.modules.setdefault(_name, None)
