-- One known value wrapped by the master key, written by the first process to start. Every
-- process after it must unwrap it before it serves: a replica configured with another
-- REDRESS_MASTER_KEY refuses to start instead of making person keys nobody else can open
-- (consumers meeting those would stop and retry, holding up everything behind them).

SELECT pg_advisory_xact_lock(hashtext('migrate:vault'));

CREATE TABLE IF NOT EXISTS vault.master_check (
    id         int PRIMARY KEY CHECK (id = 1),
    wrapped    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
