//! Migration 0071 moves webhook deliveries left on their former queue `webhooks` to
//! `palisade.webhooks`, and leaves a tenant's own jobs of a queue named `webhooks` there.

use palisade_core::TenantId;
use palisade_jobs::{JobEnqueue, JobKind, JobStore, QueueName};

#[tokio::test]
async fn migration_0071_moves_deliveries_to_the_reserved_queue() {
    let s = crate::common::store().await;
    let t = TenantId::generate();
    let job = |kind: &str| {
        JobEnqueue::new(
            QueueName::parse("webhooks").unwrap(),
            JobKind::parse(kind).unwrap(),
            serde_json::json!({}),
        )
    };
    let delivery = s.job_enqueue(&t, job("webhook.deliver")).await.unwrap().job;
    let own = s.job_enqueue(&t, job("email.send")).await.unwrap().job;
    sqlx::raw_sql(include_str!(
        "../../migrations/0071_jobs_reserved_queues.sql"
    ))
    .execute(s.pool())
    .await
    .unwrap();
    let queue = |id| {
        let (s, t) = (&s, &t);
        async move { s.job_get(t, id).await.unwrap().unwrap().queue.to_string() }
    };
    assert_eq!(queue(&delivery.id).await, "palisade.webhooks");
    assert_eq!(queue(&own.id).await, "webhooks", "a tenant's own job stays");
}
