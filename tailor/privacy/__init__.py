"""Erasure (the right to be forgotten): everything that removes a person from what Tailor
keeps, and keeps them out.

Who is erased (keyed hashes of identifiers, the privacy key, ``ops.erased_subjects``,
the :class:`~tailor.erased.Identity` type) lives one layer lower, in :mod:`tailor.erased`,
so the exports and the snapshot publisher can ask without importing erasure; the consent
rule lives in :mod:`tailor.consent`. ``tailor erase`` (a working copy, erasure,
compaction, republishing the snapshot) is ``tailor.pipeline.erase_and_publish``; ``tailor
erase --flush`` is ``tailor.pipeline.flush_and_publish``.

Two speeds. The logical part (every table, suppression, a remove queued for every
destination) runs the night a request arrives, so the person is out of every table, export
and the snapshot at once. The physical part (their records in the landing files, local
export copies, reports and logs, free blocks of the warehouse file) costs a pass over the
disk whatever the number of people, so the nightly requests' physical parts wait together
and run when the oldest is due (``erasure.physical_deadline_days`` in config/tailor.yml);
``tailor erase`` does both at once.

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
    (:mod:`tailor.shared_devices`); a night's people together read the event history once
    (the events of the devices that name any of them, then each person's devices judged
    on those).
``matching``
    Which rows and records name the person: identifier columns by name and type, the
    identifier keys of JSON columns (``traits.email``, ``context.traits.email``,
    ``properties.order_id``, ``userId``, ...), compared trimmed and case-folded; never a
    value that happens to occur in free text.
``erase_tables``
    Every table of every schema, one scan of each for a night's people together
    (``find_hits``: the people's identifiers in temp tables, the rows naming anyone kept
    by rowid and attributed to people by joins; tables whose columns cannot hold an
    identifier not read), which both sizes the requests and erases them
    (``blast_counts``, ``erase_hits``: one statement per table that has rows of them, in
    the transaction that found them): rows removed, raw source rows replaced by tombstones in
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
    again are tombstoned: by the loader in the transaction that loads them, by the
    nightly erase stage in what was loaded since its last pass (a watermark in
    ``private.suppression_watermark``; the whole history when the erased subjects changed
    otherwise than by a night's erasure), and in the whole history by the physical pass.
``erasure``
    :func:`~tailor.privacy.erasure.erase` (one person), ``apply_requests`` (a night's
    requests together: one scan of each table, the files queued) and ``run`` (the
    nightly erase stage's logical part); one ``ops.erasure_audit`` row per request
    (``applied`` | ``held_for_review`` | ``unknown_subject`` | ``invalid_request``). Local
    export copies are redacted and a remove is queued for every destination that holds
    the person (``tailor.exports.redact``, ``tailor.exports.outbox``).
``pending``
    ``private.erasure_pending``: the physical parts waiting, the person's identifiers
    sealed with the privacy key, the day received and the day due; when a night must run
    them (one night ahead of the oldest due day).
``physical``
    The batched pass (``run_pass``: landing files, export copies, other files, then
    compaction; ``physically_erased_on`` in the audit) and the nightly erase stage's
    physical part (``run_night``: landing retention, then the pass when due).
``retention``
    Landing partitions older than ``erasure.landing_retention_days`` deleted once every
    file of them is in ``raw.load_log``, recorded in ``ops.landing_retention``.
``compaction``
    The warehouse rewritten without the free blocks deleted rows can linger in.
``traces``
    The proof that nothing is left: the person's identifiers searched everywhere.

Import the submodules (``from tailor.privacy.erasure import erase``): this file imports
nothing, so the loader's ``tailor.privacy.suppression`` does not pull in the exports.
"""
