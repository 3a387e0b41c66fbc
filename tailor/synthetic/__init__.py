"""Deterministic synthetic source data for the landing zone (``tailor generate``).

The package owns the synthetic shop: its personas, catalog, customers, devices, visits,
orders and the deliberate bad records, and the landing files they are written as. The
driver (``tailor.synthetic.driver.generate``) writes every source of ``tailor.sources``
for a window of days (or appends days to one), in the layout the loader reads::

    <landing>/events/dt=D/events.ndjson.gz              Segment-spec NDJSON, gzip (mtime 0)
    <landing>/customers/dt=D/customers.csv              CRM export: new and changed customers
    <landing>/orders/dt=D/orders.csv                    shop backend orders
    <landing>/order_items/dt=D/order_items.csv          their lines
    <landing>/products/dt=D/products.parquet            catalog: full on day 1, then changes
    <landing>/consents/dt=D/consents.ndjson.gz          consent grants and withdrawals
    <landing>/erasure_requests/dt=D/erasure_requests.csv

and the answers a test or an evaluation needs next to it, never in the landing zone::

    <ground_truth>/personas.csv     customer_id, persona, signup_date
    <ground_truth>/identities.csv   anonymous_id, customer_id, device_type, identified_by
    <ground_truth>/consents.csv     each customer's final consent per purpose
    <ground_truth>/dirt.csv         one row per injected dirty record
    <ground_truth>/manifest.json    the config and the record counts per source and day
    <ground_truth>/incidents.csv    the incidents injected, if any (``tailor.incidents``)

Behaviour comes from six latent personas (``personas``) that differ in visit frequency,
page views per session, orders, basket size, price level, coupons, recency, device and
time of day, so that segmentation has something real to find. Product popularity is
long-tailed and every shopper has favourite categories and brands, so recommendations
have something to learn.

Everything is drawn from numpy generators seeded from ``GeneratorConfig.seed`` (one
stream per purpose and per day, ``common._rng``), so the same config gives byte-identical
files whatever the number of worker processes. People and the initial catalog come from
streams that do not depend on the number of days; each day's visits, orders, events,
catalog and CRM changes from a stream of (seed, day) given the state the days before left
(who has logged in, the next order and consent numbers, ...). So a data set of 3 days is
the first 3 days of one of 30, and ``tailor generate --append N`` adds the next N days of
a data set (its note, ``manifest``, records the options) byte for byte as if they had been
generated at once. One-off events (sign-ups of new customers, one-time buyers, anonymous
visitors, lapsing customers' last visits, erasure requests) fall in the first three weeks
(``visits.HORIZON_DAYS``); regular customers keep visiting. Records a day hands to a
later day that the data set does not hold (late events, returns, a dirty CSV row's
correction) arrive when it is extended. Days are built in parallel: a worker
renders the events and orders of the sessions that start on its day (``sessions``);
records that belong to a later partition (sessions running past midnight UTC, late and
redelivered events, order updates) are handed back and written at the head of that day's
file. An events file may therefore hold two gzip members, which gzip readers (DuckDB,
Python, zcat) read as one stream.

Modules: ``config`` (options, dirt classes, store shapes), ``common`` (random streams and
value formats), ``personas``, ``catalog``, ``population`` (customers), ``devices``,
``visits``, ``world`` (the plan), ``sessions`` (one day of events and orders), ``dirt``
(the deliberate bad records), ``crm`` (customers, consents, erasure requests),
``writers`` (landing and ground-truth files), ``incident_hooks``, ``manifest`` (the note
beside the landing data that ``--append`` reads) and ``driver``. Import
what you use from its module; this file imports nothing.
"""
