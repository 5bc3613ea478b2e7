//! Which slots one fire enqueues: the due slot on time, and the missed ones by policy.

use super::model::{MissedPolicy, Schedule};

/// Most slots counted when telling how many were skipped (a longer gap counts this many).
pub const MAX_COUNTED: u64 = 100_000;

/// What one fire does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The slots to enqueue (ms), oldest first.
    pub fire: Vec<i64>,
    /// Due slots not enqueued (counted up to [`MAX_COUNTED`]).
    pub skipped: u64,
    /// The schedule's new cursor: the latest due slot.
    pub cursor_ms: i64,
    /// The slot after it.
    pub next_slot_ms: Option<i64>,
}

/// The plan of a fire of `s` at `now_ms`, or `None` when no slot is due. The latest due slot
/// fires when it is at most `grace_ms` old; every other due slot is missed, and the policy
/// picks which of those fire.
pub fn plan(s: &Schedule, now_ms: i64, grace_ms: i64) -> Option<Plan> {
    if !s.is_due(now_ms) {
        return None;
    }
    let (cron, zone) = (&s.spec.cron, s.spec.timezone);
    let latest = cron
        .latest_at_or_before(zone, now_ms)
        .filter(|l| *l > s.cursor_ms)?;
    let on_time = now_ms - latest <= grace_ms;
    let missed_wanted = match s.spec.missed {
        MissedPolicy::Skip => 0,
        MissedPolicy::Latest => 1,
        MissedPolicy::All => s.spec.max_catch_up as usize,
    };
    let mut fire = Vec::new();
    if on_time {
        fire.push(latest);
    }
    let mut cursor = latest;
    let mut reached_start = false;
    let mut missed_taken = 0;
    if !on_time && missed_wanted > 0 {
        fire.push(latest);
        missed_taken = 1;
    }
    while missed_taken < missed_wanted {
        match cron
            .previous_before(zone, cursor)
            .filter(|p| *p > s.cursor_ms)
        {
            Some(p) => {
                fire.push(p);
                cursor = p;
                missed_taken += 1;
            }
            None => {
                reached_start = true;
                break;
            }
        }
    }
    fire.sort_unstable();
    let oldest = fire.first().copied().unwrap_or(latest + 1);
    let skipped = match reached_start {
        true => 0,
        false => count_between(s, s.cursor_ms, oldest),
    };
    Some(Plan {
        fire,
        skipped,
        cursor_ms: latest,
        next_slot_ms: cron.next_after(zone, latest),
    })
}

/// Slots in (`after_ms`, `before_ms`), up to [`MAX_COUNTED`].
fn count_between(s: &Schedule, after_ms: i64, before_ms: i64) -> u64 {
    let mut n = 0;
    let mut at = after_ms;
    while n < MAX_COUNTED {
        match s.spec.cron.next_after(s.spec.timezone, at) {
            Some(next) if next < before_ms => {
                n += 1;
                at = next;
            }
            _ => break,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cron::{CronExpr, ScheduleName, ScheduleSpec};
    use crate::{JobKind, QueueName};
    use palisade_core::TenantId;

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn sched(policy: MissedPolicy, bound: u32) -> Schedule {
        let mut spec = ScheduleSpec::new(
            CronExpr::parse("* * * * * *").unwrap(),
            QueueName::parse("q").unwrap(),
            JobKind::parse("k").unwrap(),
            serde_json::Value::Null,
        );
        spec.missed = policy;
        spec.max_catch_up = bound;
        Schedule::new(
            &TenantId::generate(),
            ScheduleName::parse("s").unwrap(),
            spec,
            T0,
        )
    }

    #[test]
    fn nothing_due_before_the_first_slot() {
        assert_eq!(plan(&sched(MissedPolicy::All, 5), T0 + 999, 500), None);
    }

    #[test]
    fn on_time_slot_fires_in_every_policy() {
        for p in [MissedPolicy::Skip, MissedPolicy::Latest, MissedPolicy::All] {
            let got = plan(&sched(p, 5), T0 + 1_200, 500).unwrap();
            assert_eq!(got.fire, vec![T0 + 1_000]);
            assert_eq!((got.skipped, got.cursor_ms), (0, T0 + 1_000));
            assert_eq!(got.next_slot_ms, Some(T0 + 2_000));
        }
    }

    #[test]
    fn missed_slots_by_policy() {
        // Ten slots due (T0+1s ..= T0+10s); the last one is on time.
        let now = T0 + 10_100;
        let skip = plan(&sched(MissedPolicy::Skip, 5), now, 500).unwrap();
        assert_eq!((skip.fire, skip.skipped), (vec![T0 + 10_000], 9));
        let latest = plan(&sched(MissedPolicy::Latest, 5), now, 500).unwrap();
        assert_eq!(
            (latest.fire, latest.skipped),
            (vec![T0 + 9_000, T0 + 10_000], 8)
        );
        let all = plan(&sched(MissedPolicy::All, 3), now, 500).unwrap();
        assert_eq!(
            all.fire,
            vec![T0 + 7_000, T0 + 8_000, T0 + 9_000, T0 + 10_000]
        );
        assert_eq!(all.skipped, 6);
        let every = plan(&sched(MissedPolicy::All, 100), now, 500).unwrap();
        assert_eq!((every.fire.len(), every.skipped), (10, 0));
    }

    #[test]
    fn late_latest_slot_is_missed_too() {
        // Slots T0+1s ..= T0+3s, now 3.9 s: the latest is 900 ms late with a 500 ms grace.
        let now = T0 + 3_900;
        let skip = plan(&sched(MissedPolicy::Skip, 5), now, 500).unwrap();
        assert_eq!(
            (skip.fire, skip.skipped, skip.cursor_ms),
            (vec![], 3, T0 + 3_000)
        );
        let latest = plan(&sched(MissedPolicy::Latest, 5), now, 500).unwrap();
        assert_eq!((latest.fire, latest.skipped), (vec![T0 + 3_000], 2));
    }
}
