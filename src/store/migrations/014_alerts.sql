-- Alerts to the admins (desk.admin): the conditions announced as started
-- and not yet as ended, so a restart neither repeats nor forgets one.
CREATE TABLE alerts (
    key        TEXT PRIMARY KEY,
    since      INTEGER NOT NULL,
    summary    TEXT NOT NULL,
    started_at INTEGER NOT NULL
) STRICT;

-- Every alert mail queued, for the rate limit.
CREATE TABLE alert_mails (
    at   INTEGER NOT NULL,
    key  TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('started', 'ended'))
) STRICT;
CREATE INDEX alert_mails_by_time ON alert_mails(at);

-- One row /healthz rewrites to prove the database takes writes.
CREATE TABLE ops_heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
) STRICT;
