//! Durable jobs with real processes: `palisade-job-worker` processes on SQLite and PostgreSQL
//! killed, paused, stopped and woken; transactional enqueue on PostgreSQL.

mod common;
mod crash;
mod limits;
mod restart;
mod shutdown;
mod txn;
mod unique;
mod wake;
