-- Spam (issue 12). Spam tickets are rows of `tickets` with status 'spam';
-- the sweeper purges old ones: their mail's text and attachments (and,
-- unless spam.purge-keep-raw, the raw bytes) go, the rows stay, so the
-- exactly-once rule still knows the Message-IDs.
ALTER TABLE tickets ADD COLUMN spam_purged_at INTEGER;
CREATE INDEX tickets_spam ON tickets(created_at) WHERE status = 'spam';

-- Lessons for rspamd's Bayes filter from agents' #spam / #notspam, sent to
-- its controller after the commit that recorded them (an rspamd outage
-- delays a lesson; it never blocks mail).
CREATE TABLE spam_learning (
    id        INTEGER PRIMARY KEY,
    ticket    INTEGER NOT NULL REFERENCES tickets(number),
    spam      INTEGER NOT NULL CHECK (spam IN (0, 1)),
    queued_at INTEGER NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0,
    next_at   INTEGER NOT NULL,
    done_at   INTEGER,
    result    TEXT
) STRICT;
CREATE INDEX spam_learning_pending ON spam_learning(next_at) WHERE done_at IS NULL;
