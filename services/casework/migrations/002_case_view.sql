-- The whole case as officers read it, plus the columns queues and searches filter on.
ALTER TABLE cases ADD COLUMN IF NOT EXISTS state jsonb;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS officer text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS lifecycle text NOT NULL DEFAULT 'new';
ALTER TABLE cases ADD COLUMN IF NOT EXISTS category text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS priority text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS acknowledged boolean NOT NULL DEFAULT false;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS responded boolean NOT NULL DEFAULT false;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS complainant_email text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS postcode text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS ward text;
ALTER TABLE cases ADD COLUMN IF NOT EXISTS flags text[] NOT NULL DEFAULT '{}';
ALTER TABLE cases ADD COLUMN IF NOT EXISTS part_services text[] NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS cases_officer ON cases (officer) WHERE lifecycle <> 'closed';
CREATE INDEX IF NOT EXISTS cases_lifecycle ON cases (lifecycle);
CREATE INDEX IF NOT EXISTS cases_email ON cases (lower(complainant_email));
CREATE INDEX IF NOT EXISTS cases_postcode ON cases (postcode);

-- Evidence files, kept with the case record so that they back up and restore together.
CREATE TABLE IF NOT EXISTS evidence_files (
    case_id      uuid        NOT NULL,
    evidence_id  text        NOT NULL,
    filename     text        NOT NULL,
    content_type text        NOT NULL,
    size_bytes   integer     NOT NULL,
    sha256       text        NOT NULL,
    content      bytea       NOT NULL,
    uploaded_by  text        NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    PRIMARY KEY (case_id, evidence_id)
);
