-- Agents at work: watchers, first response, satisfaction, linked tickets.
ALTER TABLE tickets ADD COLUMN linked_to INTEGER;
ALTER TABLE tickets ADD COLUMN survey_sent_at INTEGER;
ALTER TABLE tickets ADD COLUMN rating INTEGER;
ALTER TABLE tickets ADD COLUMN rating_comment TEXT;
ALTER TABLE tickets ADD COLUMN rated_agent TEXT;
ALTER TABLE tickets ADD COLUMN rated_at INTEGER;
CREATE INDEX tickets_by_requester ON tickets(requester);

-- People who receive a ticket's public updates besides its requester.
CREATE TABLE watchers (
    ticket  INTEGER NOT NULL REFERENCES tickets(number),
    address TEXT NOT NULL,
    PRIMARY KEY (ticket, address)
) STRICT;
