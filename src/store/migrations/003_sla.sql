-- SLA clocks: when a ticket waited on its requester, and which escalation
-- levels already fired (unique: each level fires once per ticket and target).
CREATE TABLE pauses (
    ticket     INTEGER NOT NULL REFERENCES tickets(number),
    from_at    INTEGER NOT NULL,
    until_at   INTEGER
) STRICT;
CREATE INDEX pauses_by_ticket ON pauses(ticket);

CREATE TABLE escalations (
    ticket   INTEGER NOT NULL REFERENCES tickets(number),
    target   TEXT NOT NULL,
    percent  INTEGER NOT NULL,
    action   TEXT NOT NULL,
    due_at   INTEGER NOT NULL,
    fired_at INTEGER NOT NULL,
    PRIMARY KEY (ticket, target, percent)
) STRICT;
