-- Token buckets for rate limiting public endpoints, one row per (limit, client). Kept here
-- rather than in process memory so that every replica of a service counts against the same
-- bucket. The client is a keyed hash of the address, never the address itself.

CREATE TABLE IF NOT EXISTS rate_limits (
    bucket     text             NOT NULL,
    client     text             NOT NULL,
    tokens     double precision NOT NULL,
    updated_at timestamptz      NOT NULL,
    allowed    boolean          NOT NULL,
    PRIMARY KEY (bucket, client)
);
CREATE INDEX IF NOT EXISTS rate_limits_updated ON rate_limits (updated_at);
