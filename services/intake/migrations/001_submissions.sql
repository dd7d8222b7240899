CREATE TABLE IF NOT EXISTS submissions (
    submission_id   uuid PRIMARY KEY,
    idempotency_key text UNIQUE,
    kind            text        NOT NULL,
    channel         text        NOT NULL,
    organisation_id text        NOT NULL,
    service_area    text,
    received_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    correlation_id  uuid        NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_received ON submissions (received_at);
