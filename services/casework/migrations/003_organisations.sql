-- Organisations as configured (latest OrganisationConfigured per organisation).
CREATE TABLE IF NOT EXISTS organisations (
    organisation_id       text PRIMARY KEY,
    name                  text        NOT NULL,
    nation                text        NOT NULL,
    default_procedure     text        NOT NULL,
    procedures_by_service jsonb       NOT NULL DEFAULT '{}',
    closure_days          date[]      NOT NULL DEFAULT '{}',
    shared_service        text,
    version               integer     NOT NULL,
    updated_at            timestamptz NOT NULL
);

-- Each organisation's postcode-to-ward table, so that triage can record the ward and reports
-- can group by it. A row may hold a full postcode or a sector ("M1 1") or district ("M1").
CREATE TABLE IF NOT EXISTS organisation_wards (
    organisation_id text NOT NULL,
    postcode        text NOT NULL,
    ward            text NOT NULL,
    PRIMARY KEY (organisation_id, postcode)
);
