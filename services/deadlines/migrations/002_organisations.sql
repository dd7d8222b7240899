-- What deadlines needs to know of each organisation to count its working days.
CREATE TABLE IF NOT EXISTS organisation_calendars (
    organisation_id text PRIMARY KEY,
    nation          text   NOT NULL,
    closure_days    date[] NOT NULL DEFAULT '{}'
);
