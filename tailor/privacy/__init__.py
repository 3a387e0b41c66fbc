"""Erasure (the right to be forgotten): everything that removes a person from what Tailor
keeps, and keeps them out.

Who is erased (keyed hashes of identifiers, the privacy key, ``ops.erased_subjects``,
the :class:`~tailor.erased.Identity` type) lives one layer lower, in :mod:`tailor.erased`,
so the exports and the snapshot publisher can ask without importing erasure; the consent
rule lives in :mod:`tailor.consent`. ``tailor erase`` (a working copy, erasure,
compaction, republishing the snapshot) is ``tailor.pipeline.erase_and_publish``.

Modules, in the order a request meets them:

``requests``
    Validation (``invalid_request``: no identifier, an email that is not an email;
    ``unknown_subject``: a customer id the warehouse does not know), the blast limits
    (``TAILOR_ERASURE_MAX_ROWS``, default 10,000 rows, ``TAILOR_ERASURE_MAX_SHARE``,
    default 5 % of a table of at least 1,000 rows: above them a request is
    ``held_for_review`` until rerun with ``--force``), the pending ``erasure_requests``.
``identity``
    Every identifier of the person: customer ids, emails, anonymous ids that point at
    nobody else, orders, and their events on devices shared with another customer
    (:mod:`tailor.shared_devices`).
``matching``
    Which rows and records name the person: identifier columns by name and type, the
    identifier keys of JSON columns (``traits.email``, ``context.traits.email``,
    ``properties.order_id``, ``userId``, ...), compared trimmed and case-folded; never a
    value that happens to occur in free text.
``erase_tables``
    Every table of every schema: rows removed, raw source rows replaced by tombstones in
    ``raw.quarantine`` (``raw.load_log`` adjusted, so "every record read is loaded or
    quarantined" still holds), quarantined records stripped of their text, identifiers in
    diagnostic text (``ops.validation_results``, ``ops.run_log``) replaced in place.
``landing``
    The landing zone (CSV, NDJSON, Parquet, gzipped or not, hidden files included):
    records removed when an identifier field names the person, files rewritten
    atomically; the rows of applied requests go once the run is committed.
``files``
    The other files that can quote a person (validation results, reports, the run log,
    Airflow logs, the generator's ground truth).
``suppression``
    Erased people stay out: raw rows and quarantined records that name an erased subject
    again are tombstoned (the nightly erase stage, and the loader after each day).
``erasure``
    :func:`~tailor.privacy.erasure.erase` (one person), ``apply_requests`` (a night's
    requests together: one pass over the landing zone, one scan of each table) and
    ``run`` (the nightly erase stage); one ``ops.erasure_audit`` row per request
    (``applied`` | ``held_for_review`` | ``unknown_subject`` | ``invalid_request``). Local
    export copies are redacted and a remove is queued for every destination that holds
    the person (``tailor.exports.redact``, ``tailor.exports.outbox``).
``compaction``
    The warehouse rewritten without the free blocks deleted rows can linger in.
``traces``
    The proof that nothing is left: the person's identifiers searched everywhere.

Import the submodules (``from tailor.privacy.erasure import erase``): this file imports
nothing, so the loader's ``tailor.privacy.suppression`` does not pull in the exports.
"""
