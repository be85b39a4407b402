-- Issue 13: merge, approvals, digests.

-- A merged ticket's number, and the ticket it went into: mail tagged with
-- the old number lands on the target. Kept flat (one hop): when the target
-- is merged in its turn, its aliases are moved on with it.
CREATE TABLE ticket_aliases (
    number INTEGER PRIMARY KEY REFERENCES tickets(number),
    target INTEGER NOT NULL REFERENCES tickets(number),
    at     INTEGER NOT NULL
) STRICT;
CREATE INDEX ticket_aliases_by_target ON ticket_aliases(target);

-- Approvals asked with #approval: one open per ticket at a time. token is
-- the one-time secret of the approve/reject links (an HMAC under the
-- installation's id key); it stops counting once decided_at is set.
CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY,
    ticket       INTEGER NOT NULL REFERENCES tickets(number),
    approver     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    token        TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    reminded_at  INTEGER,
    decided_at   INTEGER,
    decision     TEXT CHECK (decision IN ('approved', 'rejected')),
    decided_by   TEXT,
    comment      TEXT
) STRICT;
CREATE UNIQUE INDEX approvals_open ON approvals(ticket) WHERE decided_at IS NULL;

-- Morning digests mailed: one per agent and local day.
CREATE TABLE digests_sent (
    agent TEXT NOT NULL,
    day   TEXT NOT NULL,
    at    INTEGER NOT NULL,
    PRIMARY KEY (agent, day)
) STRICT;
