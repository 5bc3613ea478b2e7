-- Palisade's own jobs run on reserved queues (`palisade.*`, which tenants cannot name): the
-- webhook deliveries still under their former queue `webhooks` move with them, and the running
-- counts of both queues are counted again (the lock on jobs keeps leases and ends of jobs out
-- meanwhile, as in 0034).
LOCK TABLE jobs IN SHARE MODE;
UPDATE jobs SET queue = 'palisade.webhooks' WHERE queue = 'webhooks' AND kind = 'webhook.deliver';
DELETE FROM job_running_tenants WHERE queue IN ('webhooks', 'palisade.webhooks');
DELETE FROM job_running_keys WHERE queue IN ('webhooks', 'palisade.webhooks');
INSERT INTO job_running_tenants (queue, tenant_id, n)
SELECT queue, tenant_id, count(*) FROM jobs
WHERE state = 'running' AND queue IN ('webhooks', 'palisade.webhooks')
GROUP BY queue, tenant_id;
INSERT INTO job_running_keys (queue, tenant_id, limit_key, n)
SELECT queue, tenant_id, coalesce(limit_key, ''), count(*) FROM jobs
WHERE state = 'running' AND queue IN ('webhooks', 'palisade.webhooks')
GROUP BY queue, tenant_id, coalesce(limit_key, '');
