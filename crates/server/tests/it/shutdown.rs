//! Graceful shutdown on SIGTERM.

use crate::common::{eventually, spawn};
use std::time::Duration;

#[tokio::test]
async fn sigterm_stops_accepting_and_exits_cleanly() {
    let mut p = spawn(&[]);
    let pid = p.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut status = None;
    let exited = eventually(Duration::from_secs(10), || {
        status = p.child.try_wait().unwrap();
        status.is_some()
    })
    .await;
    assert!(exited, "palisade did not exit after SIGTERM");
    assert!(status.unwrap().success());
    assert!(p.stderr().contains("shutdown complete"));
    assert!(
        reqwest::get(p.at("/healthz")).await.is_err(),
        "no longer accepting"
    );
}
