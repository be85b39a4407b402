-- Scheduled reviews already queued: one row per schedule and period, written
-- in the same commit as the mail, so a period is mailed once across restarts.
CREATE TABLE reports_sent (
    schedule TEXT NOT NULL,
    period   TEXT NOT NULL,
    message  INTEGER NOT NULL REFERENCES messages(id),
    at       INTEGER NOT NULL,
    PRIMARY KEY (schedule, period)
) STRICT;
