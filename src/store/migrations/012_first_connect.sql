-- Mail that was in a folder before postdesk first read it is history, not
-- work (issue 11 §2). A ticket made from it is closed at once and marked
-- here, so reviews and the SLA leave it out.
ALTER TABLE tickets ADD COLUMN imported_at INTEGER;

-- What each mailbox's first connection found and did: the messages below
-- below_uid (of uidvalidity) were there already. policy is the
-- on-first-connect setting then ('new-only', 'import', 'process', or
-- 'earlier' for a Maildir postdesk had read before this table existed).
CREATE TABLE first_connect (
    mailbox     TEXT PRIMARY KEY,
    at          INTEGER NOT NULL,
    policy      TEXT NOT NULL,
    folder      TEXT NOT NULL,
    existing    INTEGER NOT NULL,
    uidvalidity INTEGER NOT NULL,
    below_uid   INTEGER NOT NULL
) STRICT;

-- An import of old mail as history (`postdesk import`, or on-first-connect
-- = "import"), resumable: every UID up to done_uid is recorded. A Maildir
-- import keeps uidvalidity and the UIDs at 0 (its files are recognised by
-- Message-ID when read again).
CREATE TABLE imports (
    mailbox     TEXT NOT NULL,
    folder      TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    below_uid   INTEGER NOT NULL,
    since       TEXT,
    done_uid    INTEGER NOT NULL,
    imported    INTEGER NOT NULL,
    started_by  TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (mailbox, folder)
) STRICT;
