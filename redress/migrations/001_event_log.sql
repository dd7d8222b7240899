-- The plumbing tables every service has in its own schema: its event store, its transactional
-- outbox, the ids of events it has already applied, and a durable copy of what it dead-lettered.

CREATE TABLE IF NOT EXISTS events (
    global_position bigserial PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_version  integer     NOT NULL CHECK (stream_version >= 1),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    correlation_id  uuid        NOT NULL,
    causation_id    uuid,
    actor           text        NOT NULL,
    payload         jsonb       NOT NULL,
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

CREATE TABLE IF NOT EXISTS outbox (
    position        bigserial PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    topic           text        NOT NULL,
    message_key     text        NOT NULL,
    message_value   bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- cleared when the relay meets a different broker cluster (a memory-only broker that
    -- restarted), so that everything is published again to the broker that lost it
    published_at    timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (position) WHERE published_at IS NULL;

CREATE TABLE IF NOT EXISTS processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE IF NOT EXISTS dead_letters (
    id              bigserial PRIMARY KEY,
    consumer        text        NOT NULL,
    source_topic    text        NOT NULL,
    source_partition integer    NOT NULL,
    source_offset   bigint      NOT NULL,
    dead_letter_topic text      NOT NULL,
    message_key     bytea,
    message_value   bytea       NOT NULL,
    error           text        NOT NULL,
    dead_lettered_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer, source_topic, source_partition, source_offset)
);

-- which broker cluster the outbox was last published to (one row)
CREATE TABLE IF NOT EXISTS outbox_relay_state (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    broker_epoch text,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
