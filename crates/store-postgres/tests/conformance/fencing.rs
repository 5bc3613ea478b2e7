//! Fencing tokens stay increasing after the store lost its lock state (backend-specific faults).

use crate::common;

/// A lost lock row (deleted by hand, an older backup restored): the next token is still above
/// every earlier one (tokens never fall below the store clock in microseconds).
#[tokio::test]
async fn tokens_stay_increasing_when_the_lock_row_is_lost() {
    let Some(s) = common::store("tokens_after_row_loss").await else {
        return;
    };
    let clock = palisade_core::ManualClock::new(1_700_000_000_000);
    let store = s.with_clock(clock.clone());
    let t = palisade_core::TenantId::generate();
    let lose = || async {
        clock.advance(std::time::Duration::from_secs(1));
        sqlx::query("DELETE FROM locks")
            .execute(store.pool())
            .await
            .unwrap();
    };
    palisade_testkit::locks::tokens_survive_losing_lock_state(&store, &t, lose).await;
}
