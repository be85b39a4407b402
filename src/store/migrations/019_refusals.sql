-- Refusals of senders outside the desk's scope (desk.outside = "refuse"):
-- recorded without a ticket since this migration, so `desk.refusal-window`
-- counts from here, by sender. Until now a refusal was an event of a ticket
-- closed at once; those are carried over so the window holds across the
-- upgrade. (Looking them up in events scanned the whole table: no index
-- covers kind.)
CREATE TABLE refusals (
    sender TEXT NOT NULL,
    at     INTEGER NOT NULL
) STRICT;
CREATE INDEX refusals_by_sender ON refusals(sender, at);
INSERT INTO refusals (sender, at)
    SELECT new, at FROM events WHERE kind = 'refused-outside' AND new IS NOT NULL;

-- Anyone an agent made a watcher of a ticket is in the desk's scope: found
-- by address.
CREATE INDEX watchers_by_address ON watchers(address);
