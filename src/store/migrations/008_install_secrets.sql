-- Secrets of this installation, made at first start and never shown: the
-- key of our Message-IDs (thread::IdKey), so nobody outside can predict or
-- forge the ids that thread mail into a ticket.
CREATE TABLE install_secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
