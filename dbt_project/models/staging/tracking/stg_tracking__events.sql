{#
    One row per event (messageId), typed and in UTC, from the deliveries that arrived on or
    before the run date. A redelivered event keeps its latest delivery (receivedAt, then
    landing day); first/last_arrived_date and delivery_count describe all its deliveries.
    Raw emails never leave this model: identify traits keep only their sha256.
#}

{{ tailor.staged_tracking_events() }}
