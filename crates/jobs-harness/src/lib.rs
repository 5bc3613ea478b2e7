//! Process-level harness of Palisade's durable jobs: open a SQL store from a command line, the
//! test handlers (`batch`, `sleep`, `noop`) and the application tables they write, so the
//! reliability tests and the benchmark can run the in-process [`palisade_jobs::Worker`] as
//! real processes and kill, pause and restart them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod db;
pub mod handlers;

pub use db::{Backend, Db, Opened};
