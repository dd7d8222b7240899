-- The duplicate check asks for a person's first submissions (never duplicates themselves) of one
-- kind to one organisation within a window. Keyed by exactly that, a btree answers it in a few
-- page reads however large the table grows; the GIN index on contact_keys lost to the
-- received_at index (every submission of the last two days, read and filtered), and its pending
-- list is scanned on every search. A first submission has a row per contact key here, written
-- with it; erasure deletes them with the keys (services/intake/privacy.py).
CREATE TABLE IF NOT EXISTS first_submissions_by_contact (
    organisation_id text        NOT NULL,
    kind            text        NOT NULL,
    contact_key     text        NOT NULL,
    received_at     timestamptz NOT NULL,
    submission_id   uuid        NOT NULL,
    PRIMARY KEY (organisation_id, kind, contact_key, received_at, submission_id)
);

INSERT INTO first_submissions_by_contact
    (organisation_id, kind, contact_key, received_at, submission_id)
SELECT s.organisation_id, s.kind, k.contact_key, s.received_at, s.submission_id
FROM submissions s, unnest(s.contact_keys) AS k(contact_key)
WHERE s.duplicate_of IS NULL
ON CONFLICT DO NOTHING;

DROP INDEX IF EXISTS submissions_contact_keys;
