-- Running jobs per (queue, tenant) and per (queue, tenant, limit key), kept by the transactions
-- that start or stop a job (lease, complete, fail, release, cancel, rescue) so a lease reads
-- its fairness ranks and caps from one row instead of counting the running jobs. The key ''
-- counts the jobs without a limit key (the tenant's own key, as in the lease's caps).
CREATE TABLE job_running_tenants (
    queue     TEXT COLLATE "C" NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (queue, tenant_id)
);
CREATE TABLE job_running_keys (
    queue     TEXT COLLATE "C" NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL,
    limit_key TEXT COLLATE "C" NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (queue, tenant_id, limit_key)
);
-- The jobs running when this migration runs (a lease or an end of a job waits for it: the
-- lock on jobs keeps them out until the counts exist).
LOCK TABLE jobs IN SHARE MODE;
INSERT INTO job_running_tenants (queue, tenant_id, n)
SELECT queue, tenant_id, count(*) FROM jobs WHERE state = 'running' GROUP BY queue, tenant_id;
INSERT INTO job_running_keys (queue, tenant_id, limit_key, n)
SELECT queue, tenant_id, coalesce(limit_key, ''), count(*) FROM jobs WHERE state = 'running'
GROUP BY queue, tenant_id, coalesce(limit_key, '');
