-- Addresses we stop mailing for a while after a permanent delivery failure.
CREATE TABLE suppressed (
    address TEXT PRIMARY KEY,
    until   INTEGER NOT NULL,
    reason  TEXT NOT NULL
) STRICT;
