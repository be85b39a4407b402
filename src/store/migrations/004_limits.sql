-- Automatic mail we sent to people outside the desk, for the sliding-window
-- limits that stop mail loops.
CREATE TABLE auto_replies (
    recipient TEXT NOT NULL,
    ticket    INTEGER,
    at        INTEGER NOT NULL
) STRICT;
CREATE INDEX auto_replies_by_recipient ON auto_replies(recipient, at);
CREATE INDEX auto_replies_by_ticket ON auto_replies(ticket, at);
CREATE INDEX tickets_by_requester_time ON tickets(requester, created_at);
