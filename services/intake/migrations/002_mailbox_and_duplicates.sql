-- What a retry must match, and the duplicate index: digests of the ways to recognise the person
-- and of the words of the complaint (never the details themselves).
ALTER TABLE submissions ADD COLUMN IF NOT EXISTS request_hash text;
ALTER TABLE submissions ADD COLUMN IF NOT EXISTS contact_keys text[] NOT NULL DEFAULT '{}';
ALTER TABLE submissions ADD COLUMN IF NOT EXISTS text_keys text[] NOT NULL DEFAULT '{}';
ALTER TABLE submissions ADD COLUMN IF NOT EXISTS duplicate_of uuid REFERENCES submissions (submission_id);
CREATE INDEX IF NOT EXISTS submissions_contact_keys ON submissions USING gin (contact_keys);

-- Files that came with a submission or a reply, kept as evidence. Staff download them here.
CREATE TABLE IF NOT EXISTS attachments (
    attachment_id     text PRIMARY KEY,
    submission_id     uuid,
    correspondence_id uuid,
    filename          text        NOT NULL,
    content_type      text        NOT NULL,
    size_bytes        integer     NOT NULL,
    sha256            text        NOT NULL,
    content           bytea       NOT NULL,
    received_at       timestamptz NOT NULL
);

-- Replies about existing cases.
CREATE TABLE IF NOT EXISTS correspondence (
    correspondence_id uuid PRIMARY KEY,
    idempotency_key   text UNIQUE,
    request_hash      text,
    case_id           uuid        NOT NULL,
    reference         text        NOT NULL,
    received_at       timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL
);
