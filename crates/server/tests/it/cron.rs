//! `/v1/cron`: schedules CRUD over HTTP and bad input; firing with real processes on SQLite
//! and PostgreSQL (exactly once per slot across instances, missed slots after downtime).

mod api;
mod config;
mod fire;

use palisade_core::{PageRequest, TenantId};
use palisade_jobs::{JobFilter, JobList, JobStore, QueueName};
use std::collections::BTreeMap;

/// Jobs per slot (ms) of each schedule (by name) in the tenant's queue, read through the
/// store from the jobs' unique keys (`cron:<name>@<slot>`).
pub async fn slots_by_schedule(
    store: &dyn JobStore,
    tenant: &str,
    queue: &str,
) -> BTreeMap<String, BTreeMap<i64, usize>> {
    let tenant = TenantId::parse(tenant).unwrap();
    let mut out: BTreeMap<String, BTreeMap<i64, usize>> = BTreeMap::new();
    let mut page = PageRequest::first(200);
    loop {
        let req = JobList {
            filter: JobFilter {
                queue: Some(QueueName::parse(queue).unwrap()),
                ..Default::default()
            },
            page: page.clone(),
        };
        let got = store.job_list(&tenant, &req).await.unwrap();
        for j in &got.items {
            let key = j
                .unique_key
                .as_deref()
                .expect("a cron job has its slot key");
            let (name, slot) = key.strip_prefix("cron:").unwrap().rsplit_once('@').unwrap();
            *out.entry(name.to_owned())
                .or_default()
                .entry(slot.parse().unwrap())
                .or_default() += 1;
        }
        match got.next {
            Some(n) => page.after = Some(n),
            None => return out,
        }
    }
}
