-- Tickets: one row per conversation with the desk. Times are unix milliseconds, UTC.
CREATE TABLE tickets (
    number            INTEGER PRIMARY KEY,
    mailbox           TEXT NOT NULL,
    subject           TEXT NOT NULL,
    requester         TEXT NOT NULL,
    requester_name    TEXT,
    lang              TEXT NOT NULL,
    status            TEXT NOT NULL,
    priority          TEXT,
    category          TEXT,
    team              TEXT,
    assignee          TEXT,
    tier              TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    first_response_at INTEGER,
    resolved_at       INTEGER,
    closed_at         INTEGER,
    reply_by          INTEGER
) STRICT;
CREATE INDEX tickets_by_status ON tickets(status);

-- Every mail in and out, raw bytes included, so nothing is ever lost.
-- ticket is NULL for mail that belongs to no ticket (our own mail coming back).
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    ticket      INTEGER REFERENCES tickets(number),
    direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    mailbox     TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    in_reply_to TEXT,
    refs        TEXT,
    from_addr   TEXT,
    from_name   TEXT,
    to_addrs    TEXT NOT NULL,
    cc_addrs    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    html        TEXT,
    raw         BLOB NOT NULL,
    at          INTEGER NOT NULL,
    note        TEXT
) STRICT;
-- The exactly-once rule: one inbound Message-ID per mailbox, whatever UID it had.
CREATE UNIQUE INDEX messages_inbound_once ON messages(mailbox, message_id) WHERE direction = 'in';
CREATE INDEX messages_by_message_id ON messages(message_id);
CREATE INDEX messages_by_ticket ON messages(ticket);

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    message      INTEGER NOT NULL REFERENCES messages(id),
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    data         BLOB
) STRICT;
CREATE INDEX attachments_by_message ON attachments(message);

-- The audit trail: who changed what, when.
CREATE TABLE events (
    id     INTEGER PRIMARY KEY,
    ticket INTEGER NOT NULL REFERENCES tickets(number),
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    kind   TEXT NOT NULL,
    old    TEXT,
    new    TEXT,
    detail TEXT
) STRICT;
CREATE INDEX events_by_ticket ON events(ticket);

-- Mail waiting to leave. The bytes live in messages (direction 'out').
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message         INTEGER NOT NULL UNIQUE REFERENCES messages(id),
    ticket          INTEGER,
    mail_from       TEXT NOT NULL,
    rcpt            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
) STRICT;
CREATE INDEX outbox_queued ON outbox(state, next_attempt_at);

-- Where each mailbox source is: committed with the tickets it produced.
CREATE TABLE source_state (
    mailbox     TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Mail we could not process: kept whole with the reason, for a retry after a fix.
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY,
    mailbox     TEXT NOT NULL,
    uid         INTEGER,
    error       TEXT NOT NULL,
    raw         BLOB NOT NULL,
    at          INTEGER NOT NULL,
    released_at INTEGER
) STRICT;
