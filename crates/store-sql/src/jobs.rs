//! Durable jobs: a job table and its event log; the store trait implemented on [`SqlStore`].
//!
//! Every change of one job runs in one write transaction: the job row is read under a lock
//! (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's one write lock, taken by `BEGIN IMMEDIATE`),
//! the transition of `palisade_jobs::transition` decides, and the row and its new events are
//! written before the commit. Enqueue is `INSERT … ON CONFLICT DO NOTHING` against the partial
//! unique index `jobs_unique`; a lease picks the due jobs in one statement (fair across
//! tenants) and on PostgreSQL locks them with `FOR UPDATE SKIP LOCKED`, so concurrent leases
//! never take one job twice and never wait on each other. On PostgreSQL the lease statement
//! is bounded by its page ([`BOUNDED_LEASE`]) and reads running counts that every transaction
//! starting or stopping a job keeps ([`JobDialect::JOB_RUNNING_COUNTS`]); SQLite counts them in
//! its lease ([`LEASE`]).

use crate::{Dialect, SqlStore, Value};
use palisade_core::{Page, StoreError, TenantId};
use palisade_jobs::limits::{admitted, gated_pick, rank_fairly};
use palisade_jobs::memory::count;
use palisade_jobs::params::{check_limit, Throughput, THROUGHPUT_WINDOWS_MS};
use palisade_jobs::transition as tr;
use palisade_jobs::{
    Cancelled, Enqueued, HeartbeatAnswer, Job, JobComplete, JobEnqueue, JobError, JobEvent,
    JobEventKind, JobEvents, JobFail, JobFilter, JobHeartbeat, JobId, JobKind, JobLease, JobList,
    JobPrune, JobRelease, JobRescue, JobRetry, JobState, JobStore, LeaseScope, Leased, LimitKey,
    Owner, Priority, QueueName, QueueStats, Rescued, Tag, UniqueStates, WorkerId,
};
use serde::de::DeserializeOwned;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Postgres, Sqlite, Transaction, Type};

/// What the jobs SQL needs to know of a database beyond [`Dialect`].
pub trait JobDialect: Dialect {
    /// Appended to the row read of a change: locks the row until commit.
    const JOB_LOCK: &'static str;
    /// Appended to the lease's pick: locks the picked rows, skipping rows others hold.
    const JOB_LOCK_SKIP: &'static str;
    /// Run first in a capped lease: serialises the capped leases of one queue (`$1`) so the
    /// running counts they read cannot change before they commit; `None` when the write
    /// transaction already does.
    const JOB_QUEUE_LOCK: Option<&'static str>;

    /// Run in an enqueue's transaction with the queue as `$1`: tells idle workers that a job
    /// is due (PostgreSQL's `NOTIFY`, delivered at commit, never for a rollback); `None` when
    /// workers only poll.
    const JOB_NOTIFY: Option<&'static str>;

    /// Run after a running job with a cancel request stopped, with its id as `$1`: wakes the
    /// cancels waiting for it on other instances; `None` when they only poll.
    const JOB_STOP_NOTIFY: Option<&'static str>;

    /// Whether the store keeps running counts per (queue, tenant) and per (queue, tenant,
    /// limit key) in `job_running_tenants` / `job_running_keys` (updated in every transaction
    /// that starts or stops a job) and leases with the bounded statement that reads them
    /// ([`BOUNDED_LEASE`]); otherwise the lease counts the running jobs ([`LEASE`]).
    const JOB_RUNNING_COUNTS: bool;

    /// A condition true when the job's `tags` (a JSON array) contain placeholder `p`.
    fn job_tag_match(p: &str) -> String;
}

/// The channel of PostgreSQL's enqueue notifications; each payload is
/// `<schema>/<queue>` (see `palisade_store_postgres::JobWakeups`).
pub const JOB_CHANNEL: &str = "palisade_jobs";

/// The channel of PostgreSQL's notifications that a running job asked to cancel stopped;
/// each payload is `<schema>/<job id>`.
pub const JOB_STOP_CHANNEL: &str = "palisade_job_stops";

impl JobDialect for Postgres {
    const JOB_LOCK: &'static str = " FOR UPDATE";
    const JOB_LOCK_SKIP: &'static str = " FOR UPDATE OF jobs SKIP LOCKED";
    const JOB_QUEUE_LOCK: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtext('palisade.jobs.queue'), hashtext($1))");
    const JOB_NOTIFY: Option<&'static str> =
        Some("SELECT pg_notify('palisade_jobs', current_schema() || '/' || $1)");
    const JOB_STOP_NOTIFY: Option<&'static str> =
        Some("SELECT pg_notify('palisade_job_stops', current_schema() || '/' || $1)");
    const JOB_RUNNING_COUNTS: bool = true;

    fn job_tag_match(p: &str) -> String {
        format!("(tags::jsonb @> jsonb_build_array({p}::text))")
    }
}

impl JobDialect for Sqlite {
    const JOB_LOCK: &'static str = "";
    const JOB_LOCK_SKIP: &'static str = "";
    const JOB_QUEUE_LOCK: Option<&'static str> = None;
    const JOB_NOTIFY: Option<&'static str> = None;
    const JOB_STOP_NOTIFY: Option<&'static str> = None;
    const JOB_RUNNING_COUNTS: bool = false;

    fn job_tag_match(p: &str) -> String {
        format!("EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE json_each.value = {p})")
    }
}

const COLS: &str = "id, tenant_id, queue, kind, payload, owner, priority, state, run_at_ms,
    attempt, max_attempts, timeout_ms, lease_ms, backoff, tags, unique_key, unique_states,
    lease_token, lease_expires_at_ms, worker, cancel_requested, checkpoint, progress, last_error,
    created_at_ms, updated_at_ms, finished_at_ms, events, limit_key";

/// The insert of jobs, followed by 29-column [`placeholders`].
const INSERT_HEAD: &str = "INSERT INTO jobs (id, tenant_id, queue, kind, payload, owner,
    priority, state, run_at_ms, attempt, max_attempts, timeout_ms, lease_ms, backoff, tags,
    unique_key, unique_states, lease_token, lease_expires_at_ms, worker, cancel_requested,
    checkpoint, progress, last_error, created_at_ms, updated_at_ms, finished_at_ms, events,
    limit_key) VALUES ";

/// The state's bit in `unique_states` (as in the `jobs_unique` index).
const UNIQUE_BIT: &str = "(CASE state WHEN 'queued' THEN 1 WHEN 'scheduled' THEN 2
    WHEN 'running' THEN 4 WHEN 'retrying' THEN 8 WHEN 'completed' THEN 16 WHEN 'dead' THEN 32
    ELSE 0 END)";

/// The changing columns of many jobs: `{SAVE_MANY_HEAD}` + one `(id, state, …, events)` tuple per job
/// ([`placeholders`]) + `{SAVE_MANY_TAIL}`. `VALUES` columns are `column1` … on both dialects.
const SAVE_MANY_HEAD: &str = "UPDATE jobs SET state = v.column2, run_at_ms = v.column3,
    attempt = v.column4, lease_token = v.column5, lease_expires_at_ms = v.column6,
    worker = v.column7, cancel_requested = v.column8, checkpoint = v.column9,
    progress = v.column10, last_error = v.column11, updated_at_ms = v.column12,
    finished_at_ms = v.column13, events = v.column14 FROM (VALUES ";
const SAVE_MANY_TAIL: &str = ") AS v WHERE jobs.id = v.column1";
/// The insert of many job events, followed by [`placeholders`].
const EVENT_MANY_HEAD: &str =
    "INSERT INTO job_events (job_id, seq, tenant_id, at_ms, kind, data) VALUES ";
/// Most jobs per multi-row save (14 binds each: well under both databases' bind limits).
const SAVE_CHUNK: usize = 500;

/// `rows` tuples of `cols` numbered placeholders: `($1, $2), ($3, $4)`.
fn placeholders(rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            out.push_str(&format!("${}", r * cols + c + 1));
        }
        out.push(')');
    }
    out
}

/// The lease's pick: due jobs of queue `$1` at `$2`, ranked per tenant (`k`) after the
/// tenant's running jobs (`n`), at most `$3` per tenant, `$4` in all; `{scope}` narrows to one
/// tenant (`$5`), `{lock}` locks the rows. With a per-key cap, `{key_*}` also rank each job
/// per (tenant, limit key) (`kk`) after the key's running jobs and keep at most the cap (the
/// last bind) per key.
const LEASE: &str = "
WITH RECURSIVE running AS (
    SELECT tenant_id, count(*) AS n FROM jobs
    WHERE queue = $1 AND state = 'running' GROUP BY tenant_id),{key_running}{due}
pick AS (
    SELECT due.id FROM due LEFT JOIN running ON running.tenant_id = due.tenant_id{key_join}
    WHERE coalesce(running.n, 0) + due.k <= $3{key_cond}
    ORDER BY coalesce(running.n, 0) + due.k, due.priority, due.run_at_ms, due.id
    LIMIT $4)
SELECT {cols} FROM jobs
WHERE id IN (SELECT id FROM pick) AND state IN ('queued', 'scheduled', 'retrying')
  AND run_at_ms <= $2{lock}";

/// [`LEASE`]'s `due` read in full: every due job of the queue, ranked within its tenant (a
/// per-key cap needs the deeper jobs: a key at its cap lets a later key's job in).
const DUE_ALL: &str = "
due AS (
    SELECT id, tenant_id, priority, run_at_ms,
           row_number() OVER (PARTITION BY tenant_id ORDER BY priority, run_at_ms, id) AS k{key_rank}
    FROM jobs
    WHERE queue = $1 AND state IN ('queued', 'scheduled', 'retrying') AND run_at_ms <= $2{scope}),";

/// [`LEASE`]'s `due` bounded by the page: the tenants with due jobs by a skip-scan of
/// `jobs_due` (one probe each), then each tenant's first `$4` due jobs (an index range scan).
/// The same pick as [`DUE_ALL`] without a per-key cap: a tenant's job `k > $4` has `$4` of its
/// own ranked before it, so it never makes a page of `$4`.
const DUE_FIRST: &str = "
tenants(t) AS (
    SELECT (SELECT tenant_id FROM jobs WHERE queue = $1
            AND state IN ('queued', 'scheduled', 'retrying') AND run_at_ms <= $2{scope}
            ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT tenant_id FROM jobs WHERE queue = $1
            AND state IN ('queued', 'scheduled', 'retrying') AND run_at_ms <= $2
            AND tenant_id > tenants.t{scope} ORDER BY tenant_id LIMIT 1)
    FROM tenants WHERE tenants.t IS NOT NULL),
due AS (
    SELECT j.id, j.tenant_id, j.priority, j.run_at_ms,
           row_number() OVER (PARTITION BY j.tenant_id ORDER BY j.priority, j.run_at_ms, j.id) AS k
    FROM tenants JOIN jobs j ON j.id IN (
        SELECT d.id FROM jobs d WHERE d.queue = $1 AND d.tenant_id = tenants.t
          AND d.state IN ('queued', 'scheduled', 'retrying') AND d.run_at_ms <= $2
        ORDER BY d.priority, d.run_at_ms, d.id LIMIT $4)),";

/// The lease's pick bounded by the page, not the backlog (used where the store keeps running
/// counts, [`JobDialect::JOB_RUNNING_COUNTS`]). Same binds and the same pick as [`LEASE`]:
/// - `tenants`: the tenants with waiting jobs of queue `$1`, by a skip-scan of `jobs_due` (one
///   index probe per tenant; `{tenants}` is one tenant, `$5`, in a tenant scope);
/// - `ten`: each with its running count `n` from `job_running_tenants`; `b`: the page shared
///   out, `ceil($4 / tenants)`;
/// - `c1`: per tenant, its first due jobs in lease order — at most `b`, its room under the
///   cap (`$3 - n`) and the page — ranked `n + k` as in [`LEASE`] (an index range scan of
///   `jobs_due`);
/// - `c2`: the deeper jobs only a tenant with few running jobs can need: `m` is the page's
///   worst rank among `c1` (unbounded when `c1` is short of a page), so a tenant whose job
///   `b + 1` ranks after `m` has nothing more in the pick; the others read on from job
///   `b + 1` up to rank `m`. With equal running counts `c2` reads nothing, so a lease reads
///   about `$4 + tenants` index entries instead of every due job;
/// - `pick`: the `$4` best ranks of both, as in [`LEASE`].
///
/// With a per-key cap (the last bind), `{key_free}` leaves out the jobs of keys already at
/// their cap before they take a tenant's room, and `{key_cond}` keeps a candidate only when
/// its rank within its (tenant, key) (`kk`) after the key's running count from
/// `job_running_keys` is within the cap.
const BOUNDED_LEASE: &str = "
WITH RECURSIVE tenants(tenant_id) AS ({tenants}),
ten AS MATERIALIZED (
    SELECT t.tenant_id, coalesce((SELECT r.n FROM job_running_tenants r
                                  WHERE r.queue = $1 AND r.tenant_id = t.tenant_id), 0) AS n
    FROM tenants t WHERE t.tenant_id IS NOT NULL),
b AS MATERIALIZED (
    SELECT (($4 + count(*) - 1) / greatest(count(*), 1))::bigint AS b FROM ten),
c1 AS MATERIALIZED (
    SELECT d.id, d.tenant_id, d.lk, d.priority, d.run_at_ms, ten.n + d.k AS rank
    FROM ten CROSS JOIN b CROSS JOIN LATERAL ({due} LIMIT greatest(0, least($3 - ten.n, $4, b.b))) x) d),
m AS MATERIALIZED (
    SELECT coalesce((SELECT rank FROM c1 ORDER BY rank OFFSET $4 - 1 LIMIT 1),
                    9223372036854775807) AS m),
c2 AS (
    SELECT d.id, d.tenant_id, d.lk, d.priority, d.run_at_ms, ten.n + b.b + d.k AS rank
    FROM ten CROSS JOIN b CROSS JOIN m CROSS JOIN LATERAL ({due}
            OFFSET b.b LIMIT greatest(0, least($3 - ten.n, $4, m.m - ten.n) - b.b)) x) d
    WHERE ten.n + b.b < m.m AND least($3 - ten.n, $4) > b.b),
cand AS (
    SELECT c.*{kk} FROM (SELECT * FROM c1 UNION ALL SELECT * FROM c2) c),
pick AS (
    SELECT cand.id FROM cand{key_cond}
    ORDER BY cand.rank, cand.priority, cand.run_at_ms, cand.id
    LIMIT $4)
SELECT {cols} FROM jobs
WHERE id IN (SELECT id FROM pick) AND state IN ('queued', 'scheduled', 'retrying')
  AND run_at_ms <= $2{lock}";

/// One tenant's (`ten.tenant_id`) due jobs in lease order, numbered `k`; [`BOUNDED_LEASE`]
/// closes it with its `OFFSET`/`LIMIT`, `) x) d`.
const TENANT_DUE: &str = "
        SELECT x.*, row_number() OVER (ORDER BY x.priority, x.run_at_ms, x.id) AS k FROM (
            SELECT j.id, j.tenant_id, {lk} AS lk, j.priority, j.run_at_ms FROM jobs j
            WHERE j.queue = $1 AND j.tenant_id = ten.tenant_id
              AND j.state IN ('queued', 'scheduled', 'retrying') AND j.run_at_ms <= $2{key_free}
            ORDER BY j.priority, j.run_at_ms, j.id";

/// [`BOUNDED_LEASE`]'s skip-scan of the tenants with waiting jobs of queue `$1`.
const TENANT_SKIP_SCAN: &str = "
    (SELECT tenant_id FROM jobs
     WHERE queue = $1 AND state IN ('queued', 'scheduled', 'retrying')
     ORDER BY tenant_id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.tenant_id FROM jobs j
            WHERE j.queue = $1 AND j.state IN ('queued', 'scheduled', 'retrying')
              AND j.tenant_id > t.tenant_id
            ORDER BY j.tenant_id LIMIT 1)
    FROM tenants t WHERE t.tenant_id IS NOT NULL";

/// [`BOUNDED_LEASE`] filled in for `scope`, with a per-key cap bound at `cap` when `key_cap`.
fn bounded_lease_sql<D: JobDialect>(scope: &LeaseScope, key_cap: bool) -> String {
    let (tenants, cap) = match scope {
        LeaseScope::Tenant(_) => ("SELECT $5::text", "$6"),
        LeaseScope::AllTenants => (TENANT_SKIP_SCAN, "$5"),
    };
    let (lk, kk, key_free, key_cond) = if key_cap {
        (
            "coalesce(j.limit_key, '')",
            ",
           row_number() OVER (PARTITION BY c.tenant_id, c.lk
                              ORDER BY c.priority, c.run_at_ms, c.id) AS kk",
            format!(
                "
              AND NOT EXISTS (SELECT 1 FROM job_running_keys rk
                              WHERE rk.queue = $1 AND rk.tenant_id = j.tenant_id
                                AND rk.limit_key = coalesce(j.limit_key, '') AND rk.n >= {cap})"
            ),
            format!(
                "
    WHERE cand.kk + coalesce((SELECT rk.n FROM job_running_keys rk
                              WHERE rk.queue = $1 AND rk.tenant_id = cand.tenant_id
                                AND rk.limit_key = cand.lk), 0) <= {cap}"
            ),
        )
    } else {
        ("''", "", String::new(), String::new())
    };
    BOUNDED_LEASE
        .replace("{due}", TENANT_DUE)
        .replace("{tenants}", tenants)
        .replace("{lk}", lk)
        .replace("{kk}", kk)
        .replace("{key_free}", &key_free)
        .replace("{key_cond}", &key_cond)
        .replace("{cols}", COLS)
        .replace("{lock}", D::JOB_LOCK_SKIP)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("jobs: undecodable {what}"))
}

/// Maps any parse error of `what` to [`corrupt`].
fn bad<E>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |_| corrupt(what)
}

fn json<T: DeserializeOwned>(s: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|_| corrupt(what))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The statement of a lease in `scope`: binds queue, now (ms), per-tenant cap, limit, and for
/// a tenant scope the tenant. Public for the backends' `EXPLAIN` tests.
pub fn lease_sql<D: JobDialect>(scope: &LeaseScope) -> String {
    lease_sql_with::<D>(scope, false)
}

/// [`lease_sql`], with a per-key cap bound last when `key_cap` (after the tenant of a tenant
/// scope).
pub fn lease_sql_with<D: JobDialect>(scope: &LeaseScope, key_cap: bool) -> String {
    if D::JOB_RUNNING_COUNTS {
        return bounded_lease_sql::<D>(scope, key_cap);
    }
    let (scope, cap) = match scope {
        LeaseScope::Tenant(_) => (" AND tenant_id = $5", "$6"),
        LeaseScope::AllTenants => ("", "$5"),
    };
    let key = |text: &str| {
        if key_cap {
            text.replace("{cap}", cap)
        } else {
            String::new()
        }
    };
    LEASE
        .replace("{due}", if key_cap { DUE_ALL } else { DUE_FIRST })
        .replace(
            "{key_running}",
            &key("
running_key AS (
    SELECT tenant_id, coalesce(limit_key, '') AS lk, count(*) AS n FROM jobs
    WHERE queue = $1 AND state = 'running' GROUP BY tenant_id, coalesce(limit_key, '')),"),
        )
        .replace(
            "{key_rank}",
            &key(",
           coalesce(limit_key, '') AS lk,
           row_number() OVER (PARTITION BY tenant_id, coalesce(limit_key, '')
                              ORDER BY priority, run_at_ms, id) AS kk"),
        )
        .replace(
            "{key_join}",
            &key(
                " LEFT JOIN running_key ON running_key.tenant_id = due.tenant_id
        AND running_key.lk = due.lk",
            ),
        )
        .replace(
            "{key_cond}",
            &key(" AND coalesce(running_key.n, 0) + due.kk <= {cap}"),
        )
        .replace("{scope}", scope)
        .replace("{cols}", COLS)
        .replace("{lock}", D::JOB_LOCK_SKIP)
}

/// The least id of a job created at `ms` (ids sort by creation time).
fn id_floor(ms: i64) -> String {
    format!("job_{:012x}", ms.clamp(0, 0xffff_ffff_ffff))
}

/// A filter's `AND …` conditions, with their text binds numbered from `first`.
fn filter_sql<D: JobDialect>(f: &JobFilter, first: usize) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    let mut add = |cond: &dyn Fn(&str) -> String, v: String| {
        binds.push(v);
        sql.push_str(" AND ");
        sql.push_str(&cond(&format!("${}", first + binds.len() - 1)));
    };
    if let Some(q) = &f.queue {
        add(&|p| format!("queue = {p}"), q.to_string());
    }
    if let Some(k) = &f.kind {
        add(&|p| format!("kind = {p}"), k.to_string());
    }
    if let Some(s) = f.state {
        add(&|p| format!("state = {p}"), s.as_str().to_owned());
    }
    if let Some(t) = &f.tag {
        add(&|p| D::job_tag_match(p), t.to_string());
    }
    // Ids begin with their creation time in 12 hex digits: a time bound is an id bound.
    if let Some(ms) = f.created_from_ms {
        add(&|p| format!("id >= {p}"), id_floor(ms));
    }
    if let Some(ms) = f.created_before_ms {
        add(&|p| format!("id < {p}"), id_floor(ms));
    }
    // Job::visible_to: another key's job (owner `key_…`) is left out.
    if let Some(principal) = &f.viewer {
        let cond =
            |p: &str| format!("(owner IS NULL OR substr(owner, 1, 4) <> 'key_' OR owner = {p})");
        add(&cond, principal.clone());
    }
    (sql, binds)
}

impl<D, B> SqlStore<D, B>
where
    D: JobDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    bool: Value<D>,
    String: Value<D>,
    Option<String>: Value<D>,
    Option<i64>: Value<D>,
{
    fn job_row(r: &D::Row) -> Result<Job, StoreError> {
        let text = |name: &str| Self::col::<String>(r, name);
        let opt = |name: &str| Self::col::<Option<String>>(r, name);
        let int = |name: &str| Self::col::<i64>(r, name);
        Ok(Job {
            id: JobId::parse(&text("id")?).map_err(bad("id"))?,
            tenant: TenantId::parse(&text("tenant_id")?).map_err(|_| corrupt("tenant_id"))?,
            queue: QueueName::parse(&text("queue")?).map_err(bad("queue"))?,
            kind: JobKind::parse(&text("kind")?).map_err(bad("kind"))?,
            payload: json(&text("payload")?, "payload")?,
            owner: opt("owner")?
                .map(|o| Owner::parse(&o).map_err(bad("owner")))
                .transpose()?,
            limit_key: opt("limit_key")?
                .map(|k| LimitKey::parse(&k).map_err(bad("limit_key")))
                .transpose()?,
            priority: Priority::new(int("priority")?).map_err(bad("priority"))?,
            state: JobState::parse(&text("state")?).map_err(bad("state"))?,
            run_at_ms: int("run_at_ms")?,
            attempt: u32::try_from(int("attempt")?).map_err(|_| corrupt("attempt"))?,
            max_attempts: u32::try_from(int("max_attempts")?)
                .map_err(|_| corrupt("max_attempts"))?,
            timeout_ms: int("timeout_ms")?,
            lease_ms: int("lease_ms")?,
            backoff: json(&text("backoff")?, "backoff")?,
            tags: json::<Vec<Tag>>(&text("tags")?, "tags")?,
            unique_key: opt("unique_key")?,
            unique_states: UniqueStates::from_bits(int("unique_states")? as u8),
            lease_token: int("lease_token")? as u64,
            lease_expires_at_ms: Self::col(r, "lease_expires_at_ms")?,
            worker: opt("worker")?
                .map(|w| WorkerId::parse(&w).map_err(bad("worker")))
                .transpose()?,
            cancel_requested: Self::col(r, "cancel_requested")?,
            checkpoint: opt("checkpoint")?
                .map(|c| json(&c, "checkpoint"))
                .transpose()?,
            progress: opt("progress")?.map(|p| json(&p, "progress")).transpose()?,
            last_error: opt("last_error")?,
            created_at_ms: int("created_at_ms")?,
            updated_at_ms: int("updated_at_ms")?,
            finished_at_ms: Self::col(r, "finished_at_ms")?,
            events: int("events")? as u64,
        })
    }

    /// Inserts `job` unless its unique key is taken; true when inserted.
    pub(crate) async fn job_insert(conn: &mut D::Connection, j: &Job) -> Result<bool, StoreError> {
        Ok(!Self::job_insert_many(conn, std::slice::from_ref(j))
            .await?
            .is_empty())
    }

    /// Inserts `jobs` in one multi-row statement per chunk of [`SAVE_CHUNK`], each unless its
    /// unique key (or id) is taken: the ids of those inserted.
    pub(crate) async fn job_insert_many(
        conn: &mut D::Connection,
        jobs: &[Job],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut inserted = std::collections::HashSet::with_capacity(jobs.len());
        for chunk in jobs.chunks(SAVE_CHUNK) {
            let sql = format!(
                "{INSERT_HEAD}{} ON CONFLICT DO NOTHING RETURNING id",
                placeholders(chunk.len(), 29)
            );
            let mut q = sqlx::query(&sql);
            for j in chunk {
                q = q
                    .bind(j.id.as_str())
                    .bind(j.tenant.as_str())
                    .bind(j.queue.as_str())
                    .bind(j.kind.as_str())
                    .bind(to_json(&j.payload))
                    .bind(j.owner.as_ref().map(|o| o.to_string()))
                    .bind(i64::from(j.priority))
                    .bind(j.state.as_str())
                    .bind(j.run_at_ms)
                    .bind(i64::from(j.attempt))
                    .bind(i64::from(j.max_attempts))
                    .bind(j.timeout_ms)
                    .bind(j.lease_ms)
                    .bind(to_json(&j.backoff))
                    .bind(to_json(&j.tags))
                    .bind(j.unique_key.clone())
                    .bind(i64::from(j.unique_states.bits()))
                    .bind(j.lease_token as i64)
                    .bind(j.lease_expires_at_ms)
                    .bind(j.worker.as_ref().map(|w| w.to_string()))
                    .bind(j.cancel_requested)
                    .bind(j.checkpoint.as_ref().map(to_json))
                    .bind(j.progress.as_ref().map(to_json))
                    .bind(j.last_error.clone())
                    .bind(j.created_at_ms)
                    .bind(j.updated_at_ms)
                    .bind(j.finished_at_ms)
                    .bind(j.events as i64)
                    .bind(j.limit_key.as_ref().map(|k| k.to_string()));
            }
            for r in q.fetch_all(&mut *conn).await.map_err(D::map_err)? {
                inserted.insert(Self::col::<String>(&r, "id")?);
            }
        }
        Ok(inserted)
    }

    /// Writes the changing columns of `j` and appends `events`.
    async fn job_save(
        tx: &mut Transaction<'static, D>,
        j: &Job,
        events: &[JobEvent],
    ) -> Result<(), StoreError> {
        Self::job_save_many(tx, &[(j, events)]).await
    }

    /// [`Self::job_save`] of many jobs (each read under its row lock in `tx`) in two
    /// statements per chunk of [`SAVE_CHUNK`]: one multi-row `UPDATE … FROM (VALUES …)` and
    /// one multi-row insert of their events.
    async fn job_save_many(
        tx: &mut Transaction<'static, D>,
        saves: &[(&Job, &[JobEvent])],
    ) -> Result<(), StoreError> {
        for chunk in saves.chunks(SAVE_CHUNK) {
            let rows = placeholders(chunk.len(), 14);
            let sql = format!("{SAVE_MANY_HEAD}{rows}{SAVE_MANY_TAIL}");
            let mut q = sqlx::query(&sql);
            for (j, _) in chunk {
                q = q
                    .bind(j.id.as_str())
                    .bind(j.state.as_str())
                    .bind(j.run_at_ms)
                    .bind(i64::from(j.attempt))
                    .bind(j.lease_token as i64)
                    .bind(j.lease_expires_at_ms)
                    .bind(j.worker.as_ref().map(|w| w.to_string()))
                    .bind(j.cancel_requested)
                    .bind(j.checkpoint.as_ref().map(to_json))
                    .bind(j.progress.as_ref().map(to_json))
                    .bind(j.last_error.clone())
                    .bind(j.updated_at_ms)
                    .bind(j.finished_at_ms)
                    .bind(j.events as i64);
            }
            q.execute(&mut **tx).await.map_err(D::map_err)?;
            Self::job_log_many(tx, chunk).await?;
        }
        Ok(())
    }

    /// The events of `logs` in one multi-row insert.
    pub(crate) async fn job_log_many(
        conn: &mut D::Connection,
        logs: &[(&Job, &[JobEvent])],
    ) -> Result<(), StoreError> {
        let n: usize = logs.iter().map(|(_, e)| e.len()).sum();
        if n == 0 {
            return Ok(());
        }
        let sql = format!("{EVENT_MANY_HEAD}{}", placeholders(n, 6));
        let mut q = sqlx::query(&sql);
        for (j, events) in logs {
            for e in events.iter() {
                q = q
                    .bind(j.id.as_str())
                    .bind(e.seq as i64)
                    .bind(j.tenant.as_str())
                    .bind(e.at_ms)
                    .bind(e.kind.as_str())
                    .bind(to_json(&e.data));
            }
        }
        q.execute(&mut *conn).await.map_err(D::map_err)?;
        Ok(())
    }

    pub(crate) async fn job_log(
        conn: &mut D::Connection,
        j: &Job,
        events: &[JobEvent],
    ) -> Result<(), StoreError> {
        Self::job_log_many(conn, &[(j, events)]).await
    }

    /// Adds `deltas` — (job, +1 started / -1 stopped) — to the running counts of their (queue,
    /// tenant) and (queue, tenant, limit key), in the caller's transaction; nothing where the
    /// store keeps no counts ([`JobDialect::JOB_RUNNING_COUNTS`]). One statement, rows in key
    /// order (concurrent transactions lock the counter rows in the same order).
    async fn job_running_add(
        conn: &mut D::Connection,
        deltas: &[(&Job, i64)],
    ) -> Result<(), StoreError> {
        use std::collections::BTreeMap;
        if !D::JOB_RUNNING_COUNTS || deltas.is_empty() {
            return Ok(());
        }
        let mut tenants: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        let mut keys: BTreeMap<(&str, &str, &str), i64> = BTreeMap::new();
        for (j, d) in deltas {
            let (q, t) = (j.queue.as_str(), j.tenant.as_str());
            *tenants.entry((q, t)).or_default() += d;
            *keys.entry((q, t, j.limit_key_str())).or_default() += d;
        }
        tenants.retain(|_, d| *d != 0);
        keys.retain(|_, d| *d != 0);
        if tenants.is_empty() {
            return Ok(());
        }
        let mut p = 0;
        let mut next = || {
            p += 1;
            format!("${p}")
        };
        let trows: Vec<String> = tenants
            .keys()
            .map(|_| format!("({}, {}, {})", next(), next(), next()))
            .collect();
        let krows: Vec<String> = keys
            .keys()
            .map(|_| format!("({}, {}, {}, {})", next(), next(), next(), next()))
            .collect();
        let sql = format!(
            "WITH t AS (
                 INSERT INTO job_running_tenants (queue, tenant_id, n) VALUES {}
                 ON CONFLICT (queue, tenant_id) DO UPDATE SET n = job_running_tenants.n + excluded.n)
             INSERT INTO job_running_keys (queue, tenant_id, limit_key, n) VALUES {}
             ON CONFLICT (queue, tenant_id, limit_key) DO UPDATE SET n = job_running_keys.n + excluded.n",
            trows.join(", "),
            krows.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for ((queue, tenant), d) in &tenants {
            q = q.bind(*queue).bind(*tenant).bind(*d);
        }
        for ((queue, tenant, key), d) in &keys {
            q = q.bind(*queue).bind(*tenant).bind(*key).bind(*d);
        }
        q.execute(&mut *conn).await.map_err(D::map_err)?;
        Ok(())
    }

    /// One tenant's job, read under the row lock of `tx`.
    async fn job_locked(
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        id: &JobId,
    ) -> Result<Option<Job>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM jobs WHERE id = $1 AND tenant_id = $2{}",
            D::JOB_LOCK
        );
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .bind(tenant.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(D::map_err)?;
        row.as_ref().map(Self::job_row).transpose()
    }

    /// Applies `f` to one tenant's job in one write transaction: locks the row, decides, and
    /// writes the job with its events (nothing when `f` fails or answers `None` for them).
    async fn job_change<T>(
        &self,
        tenant: &TenantId,
        id: &JobId,
        f: impl FnOnce(&mut Job, i64) -> Result<(T, Option<Vec<JobEvent>>), JobError>,
    ) -> Result<T, JobError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let result = Self::job_change_in(&mut tx, tenant, id, self.now_ms(), f).await;
        Self::end(tx, result).await
    }

    /// [`Self::job_change`]'s work inside its transaction.
    async fn job_change_in<T>(
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        id: &JobId,
        now: i64,
        f: impl FnOnce(&mut Job, i64) -> Result<(T, Option<Vec<JobEvent>>), JobError>,
    ) -> Result<T, JobError> {
        let mut job = Self::job_locked(tx, tenant, id)
            .await?
            .ok_or(JobError::NotFound)?;
        let was_running = job.state == JobState::Running;
        let (out, events) = f(&mut job, now)?;
        if let Some(events) = events {
            match Self::job_save(tx, &job, &events).await {
                Err(e) if e.is_conflict() => return Err(JobError::UniqueConflict),
                r => r?,
            }
            let delta = match (was_running, job.state == JobState::Running) {
                (false, true) => 1,
                (true, false) => -1,
                _ => 0,
            };
            if delta != 0 {
                Self::job_running_add(tx, &[(&job, delta)]).await?;
            }
        }
        Ok(out)
    }

    /// The job of `tenant` holding `key` in one of its key's states.
    async fn job_unique_holder(
        conn: &mut D::Connection,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<Job>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM jobs WHERE tenant_id = $1 AND unique_key = $2
             AND (unique_states & {UNIQUE_BIT}) <> 0"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(D::map_err)?;
        row.as_ref().map(Self::job_row).transpose()
    }

    /// One attempt at an enqueue on `conn` (inside a transaction): the new job (its event
    /// logged, idle workers notified at commit), the holder of its key, or `None` when the
    /// holder finished between the refused insert and the read (try again).
    async fn job_enqueue_on(
        conn: &mut D::Connection,
        tenant: &TenantId,
        req: &JobEnqueue,
        now: i64,
    ) -> Result<Option<Enqueued>, JobError> {
        let done = Self::job_enqueue_quiet(conn, tenant, req, now).await?;
        if let Some(d) = done.as_ref().filter(|d| !d.duplicate) {
            if d.job.state == JobState::Queued {
                Self::job_notify_on(conn, d.job.queue.as_str()).await?;
            }
        }
        Ok(done)
    }

    /// Notifies (at commit, if the dialect can) the idle workers of `queue`.
    async fn job_notify_on(conn: &mut D::Connection, queue: &str) -> Result<(), StoreError> {
        if let Some(notify) = D::JOB_NOTIFY {
            sqlx::query(notify)
                .bind(queue)
                .execute(&mut *conn)
                .await
                .map_err(D::map_err)?;
        }
        Ok(())
    }

    /// [`Self::job_enqueue_on`] without the notification.
    async fn job_enqueue_quiet(
        conn: &mut D::Connection,
        tenant: &TenantId,
        req: &JobEnqueue,
        now: i64,
    ) -> Result<Option<Enqueued>, JobError> {
        let mut job = req.clone().into_job(tenant, JobId::generate(now), now);
        let e = tr::enqueued(&mut job);
        if Self::job_insert(conn, &job).await? {
            Self::job_log(conn, &job, &[e]).await?;
            return Ok(Some(Enqueued {
                job,
                duplicate: false,
            }));
        }
        let key = job.unique_key.as_deref().unwrap_or_default();
        let holder = Self::job_unique_holder(conn, tenant, key).await?;
        Ok(holder.map(|job| Enqueued {
            job,
            duplicate: true,
        }))
    }

    /// One attempt at an enqueue in its own write transaction ([`Self::job_enqueue_on`]).
    async fn job_enqueue_once(
        &self,
        tenant: &TenantId,
        req: &JobEnqueue,
    ) -> Result<Option<Enqueued>, JobError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let done = Self::job_enqueue_on(&mut tx, tenant, req, self.now_ms()).await?;
        tx.commit().await.map_err(D::map_err)?;
        Ok(done)
    }

    /// Enqueues inside the caller's own transaction `tx`: the job exists if and only if the
    /// caller commits `tx` (transactional enqueue, e.g. with the order row that needs it). A
    /// duplicate unique key answers the holder as [`JobStore::job_enqueue`] does. On
    /// PostgreSQL idle workers are notified at the commit. Run it in a transaction of this
    /// store's database (another schema's `jobs` table would receive the job).
    pub async fn job_enqueue_in(
        &self,
        tx: &mut Transaction<'_, D>,
        tenant: &TenantId,
        req: JobEnqueue,
    ) -> Result<Enqueued, JobError> {
        req.check()?;
        let done = Self::job_enqueue_settled(tx, tenant, &req, self.now_ms()).await?;
        if !done.duplicate && done.job.state == JobState::Queued {
            Self::job_notify_on(tx, done.job.queue.as_str()).await?;
        }
        Ok(done)
    }

    /// [`JobStore::job_enqueue_many`] in one write transaction and one commit. Requests with
    /// unique keys go in key order, so concurrent batches take the keys' index entries in one
    /// order (no deadlock), and an earlier request of the batch wins a key over a later one;
    /// each queue that got a due job is notified once.
    async fn job_enqueue_batch(
        &self,
        tenant: &TenantId,
        reqs: &[JobEnqueue],
    ) -> Result<Vec<Enqueued>, JobError> {
        let key = |i: usize| reqs[i].unique.as_ref().map(|u| u.key.as_str());
        let mut order: Vec<usize> = (0..reqs.len()).collect();
        order.sort_by(|&a, &b| key(a).cmp(&key(b)));
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let now = self.now_ms();
        let mut out: Vec<Option<Enqueued>> = vec![None; reqs.len()];
        let mut due = std::collections::BTreeSet::new();
        for i in order {
            let done = Self::job_enqueue_settled(&mut tx, tenant, &reqs[i], now).await?;
            if !done.duplicate && done.job.state == JobState::Queued {
                due.insert(done.job.queue.to_string());
            }
            out[i] = Some(done);
        }
        for q in &due {
            Self::job_notify_on(&mut tx, q).await?;
        }
        tx.commit().await.map_err(D::map_err)?;
        Ok(out.into_iter().flatten().collect())
    }

    /// [`Self::job_enqueue_quiet`] until the key's holder stays put (at most 5 tries).
    async fn job_enqueue_settled(
        conn: &mut D::Connection,
        tenant: &TenantId,
        req: &JobEnqueue,
        now: i64,
    ) -> Result<Enqueued, JobError> {
        for _ in 0..5 {
            if let Some(done) = Self::job_enqueue_quiet(conn, tenant, req, now).await? {
                return Ok(done);
            }
        }
        Err(StoreError::Conflict("jobs: unique key kept changing hands".into()).into())
    }

    /// Best effort, after a commit: runs the notification `sql` (if the dialect has one) with
    /// `arg`. A lost notification only delays a waiter to its next poll.
    async fn job_wake(&self, sql: Option<&'static str>, arg: &str) {
        if let Some(sql) = sql {
            // Ignored on failure: the waiters' polls stand in for it.
            let _ = sqlx::query(sql).bind(arg).execute(self.pool()).await;
        }
    }

    /// Wakes the waiters a stopped job may have: its cancels (when one was asked) and, for a
    /// released job, its queue's leases.
    async fn job_stopped(&self, job: &Job) {
        if job.cancel_requested {
            self.job_wake(D::JOB_STOP_NOTIFY, job.id.as_str()).await;
        }
        if job.state == JobState::Queued {
            self.job_wake(D::JOB_NOTIFY, job.queue.as_str()).await;
        }
    }

    /// [`JobStore::job_complete_many`] in one write transaction: the jobs are read under
    /// their row locks in id order, each completion is checked against its token (a refused
    /// one changes nothing and answers its error), and the accepted ones are written with
    /// their events and one update of the running counts before the one commit. `Err` when
    /// the store failed (nothing was written).
    async fn job_complete_batch(
        &self,
        reqs: &[(TenantId, JobComplete)],
    ) -> Result<Vec<Result<Job, JobError>>, StoreError> {
        use std::collections::HashMap;
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let now = self.now_ms();
        let params: Vec<String> = (1..=reqs.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {COLS} FROM jobs WHERE id IN ({}) ORDER BY id{}",
            params.join(", "),
            D::JOB_LOCK
        );
        let mut q = sqlx::query(&sql);
        for (_, r) in reqs {
            q = q.bind(r.id.as_str());
        }
        let rows = q.fetch_all(&mut *tx).await.map_err(D::map_err)?;
        let mut jobs: HashMap<String, Job> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let j = Self::job_row(r)?;
            jobs.insert(j.id.to_string(), j);
        }
        let mut out = Vec::with_capacity(reqs.len());
        let mut stopped: Vec<Job> = Vec::new();
        let mut saved: Vec<(Job, [JobEvent; 1])> = Vec::new();
        for (tenant, req) in reqs {
            let Some(job) = jobs
                .get_mut(req.id.as_str())
                .filter(|j| &j.tenant == tenant)
            else {
                out.push(Err(JobError::NotFound));
                continue;
            };
            let was_running = job.state == JobState::Running;
            match tr::complete(job, req.token, now) {
                Ok(e) => {
                    saved.push((job.clone(), [e]));
                    if was_running {
                        stopped.push(job.clone());
                    }
                    out.push(Ok(job.clone()));
                }
                Err(e) => out.push(Err(e)),
            }
        }
        let saves: Vec<(&Job, &[JobEvent])> =
            saved.iter().map(|(j, e)| (j, e.as_slice())).collect();
        Self::job_save_many(&mut tx, &saves).await?;
        let deltas: Vec<(&Job, i64)> = stopped.iter().map(|j| (j, -1)).collect();
        Self::job_running_add(&mut tx, &deltas).await?;
        tx.commit().await.map_err(D::map_err)?;
        Ok(out)
    }

    /// Jobs of one tenant's queue completed and dead in each recent window before `now`.
    async fn job_throughput(
        &self,
        tenant: &TenantId,
        queue: &QueueName,
        now: i64,
    ) -> Result<Vec<Throughput>, JobError> {
        let [w1, w5, w15] = THROUGHPUT_WINDOWS_MS;
        let rows = sqlx::query(
            "SELECT state,
                    sum(CASE WHEN finished_at_ms >= $3 THEN 1 ELSE 0 END) AS w1,
                    sum(CASE WHEN finished_at_ms >= $4 THEN 1 ELSE 0 END) AS w5,
                    count(*) AS w15
             FROM jobs WHERE tenant_id = $1 AND queue = $2
               AND state IN ('completed', 'dead') AND finished_at_ms >= $5
             GROUP BY state",
        )
        .bind(tenant.as_str())
        .bind(queue.as_str())
        .bind(now - w1)
        .bind(now - w5)
        .bind(now - w15)
        .fetch_all(self.pool())
        .await
        .map_err(D::map_err)?;
        let mut out = Throughput::windows([], now);
        for r in &rows {
            let state = JobState::parse(&Self::col::<String>(r, "state")?).map_err(bad("state"))?;
            for (t, col) in out.iter_mut().zip(["w1", "w5", "w15"]) {
                let n = Self::col::<i64>(r, col)?.max(0) as u64;
                match state {
                    JobState::Completed => t.completed = n,
                    _ => t.failed = n,
                }
            }
        }
        Ok(out)
    }

    /// The (tenant, id) pairs `sql` selects with binds `$1`, `$2`.
    async fn job_ids(
        &self,
        sql: &str,
        binds: (i64, i64),
    ) -> Result<Vec<(TenantId, JobId)>, JobError> {
        let rows = sqlx::query(sql)
            .bind(binds.0)
            .bind(binds.1)
            .fetch_all(self.pool())
            .await
            .map_err(D::map_err)?;
        let pair = |r: &D::Row| -> Result<_, StoreError> {
            let t = TenantId::parse(&Self::col::<String>(r, "tenant_id")?)
                .map_err(|_| corrupt("tenant_id"))?;
            let j = JobId::parse(&Self::col::<String>(r, "id")?).map_err(|_| corrupt("id"))?;
            Ok((t, j))
        };
        Ok(rows.iter().map(pair).collect::<Result<Vec<_>, _>>()?)
    }
}

#[async_trait::async_trait]
impl<D, B> JobStore for SqlStore<D, B>
where
    D: JobDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    bool: Value<D>,
    String: Value<D>,
    Option<String>: Value<D>,
    Option<i64>: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    async fn job_enqueue(&self, tenant: &TenantId, req: JobEnqueue) -> Result<Enqueued, JobError> {
        req.check()?;
        for _ in 0..5 {
            if let Some(done) = self.job_enqueue_once(tenant, &req).await? {
                return Ok(done);
            }
        }
        Err(StoreError::Conflict("jobs: unique key kept changing hands".into()).into())
    }

    async fn job_enqueue_many(
        &self,
        tenant: &TenantId,
        reqs: Vec<JobEnqueue>,
    ) -> Result<Vec<Enqueued>, JobError> {
        palisade_jobs::params::check_batch(&reqs)?;
        self.job_enqueue_batch(tenant, &reqs).await
    }

    async fn job_lease(&self, req: &JobLease) -> Result<Vec<Leased>, JobError> {
        check_limit(req.limit)?;
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let capped = req.max_running_per_tenant.is_some() || req.max_running_per_key.is_some();
        if let (Some(lock), true) = (D::JOB_QUEUE_LOCK, capped) {
            sqlx::query(lock)
                .bind(req.queue.as_str())
                .execute(&mut *tx)
                .await
                .map_err(D::map_err)?;
        }
        let now = self.now_ms();
        let cap = req.max_running_per_tenant.map_or(i64::MAX, i64::from);
        let pick = match req.gate {
            Some(_) => gated_pick(req.limit),
            None => req.limit,
        };
        let sql = lease_sql_with::<D>(&req.scope, req.max_running_per_key.is_some());
        let mut q = sqlx::query(&sql)
            .bind(req.queue.as_str())
            .bind(now)
            .bind(cap)
            .bind(i64::from(pick));
        if let LeaseScope::Tenant(t) = &req.scope {
            q = q.bind(t.as_str());
        }
        if let Some(key_cap) = req.max_running_per_key {
            q = q.bind(i64::from(key_cap));
        }
        let rows = q.fetch_all(&mut *tx).await.map_err(D::map_err)?;
        let mut jobs = rows
            .iter()
            .map(Self::job_row)
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by(|a, b| {
            (a.priority, a.run_at_ms, &a.id).cmp(&(b.priority, b.run_at_ms, &b.id))
        });
        let jobs: Vec<Job> = match &req.gate {
            // Asked inside the transaction: the picked rows stay locked meanwhile.
            Some(gate) => {
                rank_fairly(&mut jobs);
                admitted(gate.as_ref(), &jobs, req.limit as usize)
                    .await
                    .into_iter()
                    .cloned()
                    .collect()
            }
            None => jobs,
        };
        let mut out = Vec::with_capacity(jobs.len());
        let mut events = Vec::with_capacity(jobs.len());
        for mut job in jobs {
            let due_at_ms = job.run_at_ms;
            events.push([tr::lease(&mut job, &req.worker, now)]);
            out.push(Leased {
                token: job.lease_token,
                due_at_ms,
                job,
            });
        }
        let saves: Vec<(&Job, &[JobEvent])> = out
            .iter()
            .zip(&events)
            .map(|(l, e)| (&l.job, e.as_slice()))
            .collect();
        Self::job_save_many(&mut tx, &saves).await?;
        let started: Vec<(&Job, i64)> = out.iter().map(|l| (&l.job, 1)).collect();
        Self::job_running_add(&mut tx, &started).await?;
        tx.commit().await.map_err(D::map_err)?;
        Ok(out)
    }

    async fn job_heartbeat(
        &self,
        tenant: &TenantId,
        req: &JobHeartbeat,
    ) -> Result<HeartbeatAnswer, JobError> {
        req.check()?;
        self.job_change(tenant, &req.id, |j, now| {
            let (answer, events) = tr::heartbeat(j, req, now)?;
            Ok((answer, Some(events)))
        })
        .await
    }

    async fn job_complete(&self, tenant: &TenantId, req: &JobComplete) -> Result<Job, JobError> {
        let job = self
            .job_change(tenant, &req.id, |j, now| {
                let e = tr::complete(j, req.token, now)?;
                Ok((j.clone(), Some(vec![e])))
            })
            .await?;
        self.job_stopped(&job).await;
        Ok(job)
    }

    async fn job_complete_many(
        &self,
        reqs: &[(TenantId, JobComplete)],
    ) -> Vec<Result<Job, JobError>> {
        if reqs.len() > 1 && reqs.len() <= palisade_jobs::params::MAX_BATCH as usize {
            if let Ok(done) = self.job_complete_batch(reqs).await {
                for job in done.iter().flatten() {
                    self.job_stopped(job).await;
                }
                return done;
            }
            // The batch failed as a whole: each on its own, so each answers its own error.
        }
        let mut out = Vec::with_capacity(reqs.len());
        for (tenant, req) in reqs {
            out.push(self.job_complete(tenant, req).await);
        }
        out
    }

    async fn job_fail(&self, tenant: &TenantId, req: &JobFail) -> Result<Job, JobError> {
        let unit = rand::random::<f64>();
        let job = self
            .job_change(tenant, &req.id, |j, now| {
                let e = tr::fail(j, req, now, unit)?;
                Ok((j.clone(), Some(vec![e])))
            })
            .await?;
        self.job_stopped(&job).await;
        Ok(job)
    }

    async fn job_release(&self, tenant: &TenantId, req: &JobRelease) -> Result<Job, JobError> {
        let job = self
            .job_change(tenant, &req.id, |j, now| {
                let e = tr::release(j, req.token, now)?;
                Ok((j.clone(), Some(vec![e])))
            })
            .await?;
        self.job_stopped(&job).await;
        Ok(job)
    }

    async fn job_cancel(&self, tenant: &TenantId, id: &JobId) -> Result<Cancelled, JobError> {
        self.job_change(tenant, id, |j, now| {
            let (c, e) = tr::cancel(j, now)?;
            Ok((c, e.map(|e| vec![e])))
        })
        .await
    }

    async fn job_retry(&self, tenant: &TenantId, req: &JobRetry) -> Result<Vec<Job>, JobError> {
        let redrive = |j: &mut Job, now| {
            let e = tr::redrive(j, now)?;
            Ok((j.clone(), Some(vec![e])))
        };
        let (filter, limit) = match req {
            JobRetry::One(id) => {
                let job = self.job_change(tenant, id, redrive).await?;
                self.job_wake(D::JOB_NOTIFY, job.queue.as_str()).await;
                return Ok(vec![job]);
            }
            JobRetry::Dead { filter, limit } => (filter, *limit),
        };
        check_limit(limit)?;
        let f = JobFilter {
            state: Some(JobState::Dead),
            ..filter.clone()
        };
        let (cond, binds) = filter_sql::<D>(&f, 2);
        let sql =
            format!("SELECT id FROM jobs WHERE tenant_id = $1{cond} ORDER BY id LIMIT {limit}");
        let mut q = sqlx::query(&sql).bind(tenant.as_str());
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let rows = q.fetch_all(self.pool()).await.map_err(D::map_err)?;
        let mut out = Vec::new();
        for r in &rows {
            let id = JobId::parse(&Self::col::<String>(r, "id")?).map_err(|_| corrupt("id"))?;
            match self.job_change(tenant, &id, redrive).await {
                Ok(j) => out.push(j),
                Err(JobError::NotDead | JobError::UniqueConflict | JobError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        let mut queues: Vec<&QueueName> = out.iter().map(|j| &j.queue).collect();
        queues.sort();
        queues.dedup();
        for q in queues {
            self.job_wake(D::JOB_NOTIFY, q.as_str()).await;
        }
        Ok(out)
    }

    async fn job_get(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, JobError> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM jobs WHERE id = $1 AND tenant_id = $2"
        ))
        .bind(id.as_str())
        .bind(tenant.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(D::map_err)?;
        Ok(row.as_ref().map(Self::job_row).transpose()?)
    }

    async fn job_list(&self, tenant: &TenantId, req: &JobList) -> Result<Page<Job>, JobError> {
        let limit = req.page.limit.clamp(1, palisade_core::page::MAX_PAGE);
        let (cond, binds) = filter_sql::<D>(&req.filter, 3);
        let sql = format!(
            "SELECT {COLS} FROM jobs WHERE tenant_id = $1 AND id < $2{cond}
             ORDER BY id DESC LIMIT {}",
            limit + 1
        );
        // `job_` ids sort below `k`: no cursor lists from the newest.
        let after = req.page.after.clone().unwrap_or_else(|| "k".into());
        let mut q = sqlx::query(&sql).bind(tenant.as_str()).bind(after);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let rows = q.fetch_all(self.pool()).await.map_err(D::map_err)?;
        let jobs = rows
            .iter()
            .map(Self::job_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(jobs, limit, |j| j.id.to_string()))
    }

    async fn job_events(
        &self,
        tenant: &TenantId,
        req: &JobEvents,
    ) -> Result<Vec<JobEvent>, JobError> {
        check_limit(req.limit)?;
        self.job_get(tenant, &req.id)
            .await?
            .ok_or(JobError::NotFound)?;
        let rows = sqlx::query(
            "SELECT seq, at_ms, kind, data FROM job_events
             WHERE job_id = $1 AND tenant_id = $2 AND seq >= $3 ORDER BY seq LIMIT $4",
        )
        .bind(req.id.as_str())
        .bind(tenant.as_str())
        .bind(req.from.min(i64::MAX as u64) as i64)
        .bind(i64::from(req.limit))
        .fetch_all(self.pool())
        .await
        .map_err(D::map_err)?;
        let event = |r: &D::Row| -> Result<JobEvent, StoreError> {
            let kind: String = Self::col(r, "kind")?;
            Ok(JobEvent {
                seq: Self::col::<i64>(r, "seq")? as u64,
                at_ms: Self::col(r, "at_ms")?,
                kind: JobEventKind::parse(&kind).ok_or_else(|| corrupt("event kind"))?,
                data: json(&Self::col::<String>(r, "data")?, "event data")?,
            })
        };
        Ok(rows.iter().map(event).collect::<Result<Vec<_>, _>>()?)
    }

    async fn job_delete(&self, tenant: &TenantId, id: &JobId) -> Result<Job, JobError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let job = Self::job_locked(&mut tx, tenant, id)
            .await?
            .ok_or(JobError::NotFound)?;
        if job.state == JobState::Running {
            return Err(JobError::Running);
        }
        for sql in [
            "DELETE FROM job_events WHERE job_id = $1 AND tenant_id = $2",
            "DELETE FROM jobs WHERE id = $1 AND tenant_id = $2",
        ] {
            sqlx::query(sql)
                .bind(id.as_str())
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await
                .map_err(D::map_err)?;
        }
        tx.commit().await.map_err(D::map_err)?;
        Ok(job)
    }

    async fn job_stats(
        &self,
        tenant: &TenantId,
        queue: &QueueName,
    ) -> Result<QueueStats, JobError> {
        let now = self.now_ms();
        let rows = sqlx::query(
            "SELECT state, count(*) AS n FROM jobs WHERE tenant_id = $1 AND queue = $2
             GROUP BY state",
        )
        .bind(tenant.as_str())
        .bind(queue.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(D::map_err)?;
        let count = |r: &D::Row| -> Result<(JobState, u64), StoreError> {
            let state = JobState::parse(&Self::col::<String>(r, "state")?).map_err(bad("state"))?;
            Ok((state, Self::col::<i64>(r, "n")?.max(0) as u64))
        };
        let counts = rows.iter().map(count).collect::<Result<Vec<_>, _>>()?;
        let row = sqlx::query(
            "SELECT min(run_at_ms) AS oldest FROM jobs WHERE tenant_id = $1 AND queue = $2
             AND state IN ('queued', 'scheduled', 'retrying') AND run_at_ms <= $3",
        )
        .bind(tenant.as_str())
        .bind(queue.as_str())
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(D::map_err)?;
        let oldest: Option<i64> = Self::col(&row, "oldest")?;
        let mut stats = QueueStats::new(&counts, oldest, now);
        stats.throughput = self.job_throughput(tenant, queue, now).await?;
        Ok(stats)
    }

    async fn job_rescue(&self, req: &JobRescue) -> Result<Rescued, JobError> {
        check_limit(req.limit)?;
        let sql = "SELECT tenant_id, id FROM jobs WHERE state = 'running'
            AND lease_expires_at_ms <= $1 ORDER BY lease_expires_at_ms LIMIT $2";
        let ids = self
            .job_ids(sql, (req.now_ms, i64::from(req.limit)))
            .await?;
        let mut report = Rescued::default();
        for (tenant, id) in ids {
            let unit = rand::random::<f64>();
            let state = self
                .job_change(&tenant, &id, |j, _| {
                    let events = tr::rescue(j, req.now_ms, unit);
                    let rescued = !events.is_empty();
                    Ok((rescued.then_some(j.state), rescued.then_some(events)))
                })
                .await;
            match state {
                Ok(Some(s)) => count(&mut report, s),
                Ok(None) | Err(JobError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn job_prune(&self, req: &JobPrune) -> Result<u64, JobError> {
        check_limit(req.limit)?;
        let cut = |s| req.cutoff(s).unwrap_or(i64::MIN);
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs
               WHERE (state = 'completed' AND finished_at_ms < $1)
                  OR (state = 'dead' AND finished_at_ms < $2)
                  OR (state = 'cancelled' AND finished_at_ms < $3)
               LIMIT $4)",
        )
        .bind(cut(JobState::Completed))
        .bind(cut(JobState::Dead))
        .bind(cut(JobState::Cancelled))
        .bind(i64::from(req.limit))
        .execute(self.pool())
        .await
        .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }
}
