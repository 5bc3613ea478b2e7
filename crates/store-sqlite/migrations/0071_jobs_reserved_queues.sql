-- Palisade's own jobs run on reserved queues (`palisade.*`, which tenants cannot name): the
-- webhook deliveries still under their former queue `webhooks` move with them.
UPDATE jobs SET queue = 'palisade.webhooks' WHERE queue = 'webhooks' AND kind = 'webhook.deliver';
