//! Unique keys across processes: 10,000 concurrent enqueues over 1,000 keys from 3 processes
//! on PostgreSQL make exactly 1,000 jobs.

use crate::common::Proc;
use std::time::Duration;

/// `created=…`, `duplicate=…`, `errors=…` of an enqueue process's last line.
fn counts(line: &str) -> (i64, i64, i64) {
    let field = |name: &str| -> i64 {
        let v = line.split(' ').find_map(|f| f.strip_prefix(name)).unwrap();
        v.parse().unwrap()
    };
    (field("created="), field("duplicate="), field("errors="))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_from_three_processes_make_one_job_per_key() {
    let test = "concurrent_enqueues_from_three_processes_make_one_job_per_key";
    let Some(t) = crate::common::pg(test).await else {
        return;
    };
    let procs: Vec<Proc> = [3_334, 3_333, 3_333]
        .iter()
        .map(|n: &usize| {
            let mut args = t.args();
            args.extend(
                [
                    "enqueue",
                    "--tenant",
                    t.tenant.as_str(),
                    "--count",
                    &n.to_string(),
                    "--keys",
                    "1000",
                    "--concurrency",
                    "16",
                ]
                .map(String::from),
            );
            Proc::spawn(&args)
        })
        .collect();
    let (mut created, mut dup) = (0, 0);
    for p in &procs {
        let line = p
            .wait_line(|l| l.starts_with("enqueued"), Duration::from_secs(300))
            .expect("an enqueue process did not finish");
        let (c, d, e) = counts(&line);
        assert_eq!(e, 0, "enqueue errors: {line}");
        (created, dup) = (created + c, dup + d);
    }
    assert_eq!((created, dup), (1_000, 9_000));
    let jobs = "SELECT count(*) FROM jobs WHERE tenant_id = $1";
    assert_eq!(t.scalar(jobs, &[t.tenant.as_str()]).await, 1_000);
    let keys = "SELECT count(DISTINCT unique_key) FROM jobs WHERE tenant_id = $1";
    assert_eq!(t.scalar(keys, &[t.tenant.as_str()]).await, 1_000);
}
