"""The ML stages of the nightly run: customer segments (``ml.segmentation``), churn and
purchase propensity (``ml.propensity``), recommendations and similar items
(``ml.recommend`` with the models of ``ml.recommenders``), their metrics and model runs.
``ml.pipeline`` holds the stage functions ``tailor.pipeline`` calls."""
