-- The vault (redress/vault.py): one schema shared by every service, holding each person's data
-- key wrapped by the master key, the blind index that finds a person by email or phone, and
-- which cases and submissions belong to whom. Every service applies this file; the lock makes
-- services starting together take turns.

SELECT pg_advisory_xact_lock(hashtext('migrate:vault'));

CREATE SCHEMA IF NOT EXISTS vault;

CREATE TABLE IF NOT EXISTS vault.people (
    person_id      uuid PRIMARY KEY,
    key_id         uuid        NOT NULL UNIQUE,
    wrapped_key    bytea,                       -- NULL once erased: the shredded key
    created_at     timestamptz NOT NULL DEFAULT now(),
    erased_at      timestamptz,
    erasure_reason text
);

-- HMAC of a normalised email address or phone number -> person; deleted on erasure
CREATE TABLE IF NOT EXISTS vault.contacts (
    digest    bytea PRIMARY KEY,
    person_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_person ON vault.contacts (person_id);

-- case ids, submission ids and stream ids -> person (ids only, no personal data)
CREATE TABLE IF NOT EXISTS vault.subjects (
    subject_id text PRIMARY KEY,
    kind       text NOT NULL,              -- case, submission or stream
    person_id  uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS subjects_person ON vault.subjects (person_id);
