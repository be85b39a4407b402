-- Time worked on tickets: one row per `#time 30m` line of a verified agent
-- (src/desk/timelog.rs). Kept apart from events so the review can sum it by
-- agent, team and category without parsing timeline text.
CREATE TABLE time_entries (
    id      INTEGER PRIMARY KEY,
    ticket  INTEGER NOT NULL REFERENCES tickets(number),
    agent   TEXT NOT NULL,
    minutes INTEGER NOT NULL CHECK (minutes > 0),
    at      INTEGER NOT NULL
) STRICT;
CREATE INDEX time_entries_ticket ON time_entries(ticket);
