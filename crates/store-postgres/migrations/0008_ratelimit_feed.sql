-- Pruning of the rate-limit change feed: each change records when it was written (at_ms; 0 for
-- changes written before this migration, so the first prune removes them), and ratelimit_feed
-- remembers the highest version ever pruned: a poller whose cursor is below it may have missed
-- changes and reloads every policy and override instead of following the feed.
-- (Numbered 0008: 0007 is reserved for another change.)
ALTER TABLE ratelimit_changes ADD COLUMN at_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX ratelimit_changes_at ON ratelimit_changes (at_ms);

CREATE TABLE ratelimit_feed (
    id             BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    pruned_through BIGINT NOT NULL
);
INSERT INTO ratelimit_feed (pruned_through) VALUES (0);
