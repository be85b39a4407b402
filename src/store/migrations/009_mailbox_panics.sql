-- How often processing a mailbox's mail panicked (a bug: nothing a sender
-- writes should make us panic), so `postdesk check` can say so. The mail at
-- fault is in the quarantine; this keeps the count and the last message.
CREATE TABLE mailbox_panics (
    mailbox    TEXT PRIMARY KEY,
    count      INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    last_error TEXT NOT NULL
) STRICT;
