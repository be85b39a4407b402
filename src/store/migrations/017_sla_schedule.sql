-- Each ticket's place in the SLA clock's schedule (desk::sla::schedule), so
-- the sweeper asks only for tickets due now and `tickets --overdue` reads
-- only tickets that can be overdue, instead of every open ticket.
--   sla_wake_at: when the sweeper must look at the ticket next; a change that
--                moves its SLA sets it to the change's time ("look now").
--   sla_due_at:  the earliest due time of a target not yet met (a lower
--                bound while the clock stands).
--   sla_paused:  1 while the clock stands (never overdue then).
ALTER TABLE tickets ADD COLUMN sla_wake_at INTEGER;
ALTER TABLE tickets ADD COLUMN sla_due_at INTEGER;
ALTER TABLE tickets ADD COLUMN sla_paused INTEGER NOT NULL DEFAULT 0;
-- Every ticket still open is looked at once by the next sweep.
UPDATE tickets SET sla_wake_at = 0 WHERE status NOT IN ('resolved', 'closed');
CREATE INDEX tickets_by_sla_wake ON tickets(sla_wake_at);
CREATE INDEX tickets_by_sla_due ON tickets(sla_due_at);
-- What the schedule was computed with (a digest of the SLA policies and the
-- calendar): a daemon started with other rules marks every open ticket again.
CREATE TABLE sla_schedule_basis (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    digest TEXT NOT NULL
) STRICT;
