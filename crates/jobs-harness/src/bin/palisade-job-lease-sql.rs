//! `palisade-job-lease-sql`: prints PostgreSQL's lease statement (all tenants, no caps) for
//! `bench/jobs-due-lookup.sh`, which prepares it and times it with `EXPLAIN ANALYZE`.

fn main() {
    let scope = palisade_jobs::LeaseScope::AllTenants;
    println!(
        "{}",
        palisade_store_sql::job_lease_sql::<sqlx::Postgres>(&scope)
    );
}
