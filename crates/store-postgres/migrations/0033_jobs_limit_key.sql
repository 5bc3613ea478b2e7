-- Per-key limits of jobs: the key a job's queue limits count it under, within its tenant
-- (NULL: the tenant's own key). Running jobs per (queue, tenant, key) for the lease's caps.
ALTER TABLE jobs ADD COLUMN limit_key TEXT COLLATE "C";
CREATE INDEX jobs_running_key ON jobs (queue, tenant_id, limit_key) WHERE state = 'running';
