-- The knowledge base: one entry per resolved ticket worth remembering, and
-- an FTS5 index over it. The trigram tokenizer finds words inside Chinese
-- sentences (which have no spaces) and inside longer words; terms shorter
-- than three characters are found with LIKE instead.
CREATE TABLE kb_entries (
    id           INTEGER PRIMARY KEY,
    ticket       INTEGER REFERENCES tickets(number),
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published', 'skipped')),
    title        TEXT NOT NULL,
    problem      TEXT NOT NULL,
    solution     TEXT NOT NULL,
    category     TEXT,
    lang         TEXT NOT NULL,
    -- Length in search terms, for BM25's length normalisation.
    terms        INTEGER NOT NULL,
    author       TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    published_at INTEGER
) STRICT;
CREATE UNIQUE INDEX kb_entries_by_ticket ON kb_entries(ticket) WHERE ticket IS NOT NULL;
CREATE INDEX kb_entries_by_status ON kb_entries(status);

CREATE VIRTUAL TABLE kb_fts USING fts5(
    title, problem, solution,
    content = 'kb_entries', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER kb_entries_ai AFTER INSERT ON kb_entries BEGIN
    INSERT INTO kb_fts (rowid, title, problem, solution) VALUES (new.id, new.title, new.problem, new.solution);
END;
CREATE TRIGGER kb_entries_ad AFTER DELETE ON kb_entries BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, title, problem, solution) VALUES ('delete', old.id, old.title, old.problem, old.solution);
END;
CREATE TRIGGER kb_entries_au AFTER UPDATE OF title, problem, solution ON kb_entries BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, title, problem, solution) VALUES ('delete', old.id, old.title, old.problem, old.solution);
    INSERT INTO kb_fts (rowid, title, problem, solution) VALUES (new.id, new.title, new.problem, new.solution);
END;

-- What a new ticket's acknowledgement suggested, and whether it helped.
CREATE TABLE kb_suggestions (
    ticket  INTEGER NOT NULL REFERENCES tickets(number),
    entry   INTEGER NOT NULL REFERENCES kb_entries(id),
    at      INTEGER NOT NULL,
    helped  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ticket, entry)
) STRICT;
