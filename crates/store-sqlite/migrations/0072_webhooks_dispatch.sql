-- A pushed event is stored marked for dispatch (one autocommit insert, like a pulled one); the
-- dispatch gives marked events their delivery jobs in batches and clears the marks. Events
-- stored before this migration already have their jobs.
ALTER TABLE webhook_events ADD COLUMN dispatch INTEGER NOT NULL DEFAULT 0;
CREATE INDEX webhook_events_dispatch ON webhook_events (seq) WHERE dispatch;
