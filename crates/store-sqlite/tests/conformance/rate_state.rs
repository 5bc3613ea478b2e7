//! SQLite reads rate-limit state rows in Rust: a damaged one is `Corrupt`, not a panic.

use crate::common;
use palisade_testkit::corrupt;

#[tokio::test]
async fn a_damaged_rate_state_row_is_corrupt() {
    let s = common::store().await;
    corrupt::ratelimit_state(&s, "blocked_until_ms", common::damage(s.pool().clone())).await;
}
