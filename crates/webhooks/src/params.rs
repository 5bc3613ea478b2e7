//! The parameters and answers of the inbox operations, and the one claim decision every
//! store makes the same way.

use crate::model::{Event, EventId, EventStatus, Source, SourceName};
use palisade_core::{PageRequest, TenantId};

/// Most events one replay names.
pub const MAX_REPLAY: usize = 1_000;
/// Longest stored error message (characters).
pub const MAX_ERROR_CHARS: usize = 500;

/// The answer of `event_insert`: the stored event, and whether it was there already (the
/// replay guard: nothing was written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// The stored event (the earlier one for a duplicate).
    pub event: Event,
    /// True when an event of the source with the same key existed.
    pub duplicate: bool,
}

/// `event_list`: a page of a tenant's events, newest first, filtered.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EventList {
    /// Only this source's.
    pub source: Option<SourceName>,
    /// Only in this status.
    pub status: Option<EventStatus>,
    /// Only those arrived at or after (ms).
    pub since_ms: Option<i64>,
    /// Only those arrived before (ms).
    pub until_ms: Option<i64>,
    /// The page (the cursor is an event's `seq`).
    pub page: PageRequest,
}

impl EventList {
    /// True when `e` passes the filters (not the page).
    pub fn matches(&self, e: &Event) -> bool {
        self.source.as_ref().is_none_or(|s| &e.source == s)
            && self.status.is_none_or(|s| e.status == s)
            && self.since_ms.is_none_or(|t| e.received_at_ms >= t)
            && self.until_ms.is_none_or(|t| e.received_at_ms < t)
    }

    /// The cursor as a sequence number (`i64::MAX` for the first page).
    pub fn after_seq(&self) -> i64 {
        self.page
            .after
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(i64::MAX)
    }
}

/// `event_claim`: a delivery attempt asks to hold an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventClaim {
    /// The event.
    pub id: EventId,
    /// The attempt's token, to settle with.
    pub token: String,
    /// Now (ms).
    pub now_ms: i64,
    /// How long the attempt may hold the event (ms).
    pub hold_ms: i64,
}

/// The answer of `event_claim`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Held: deliver it (the event with its attempt counted, and its source).
    Granted {
        /// The event.
        event: Box<Event>,
        /// Its source.
        source: Box<Source>,
    },
    /// Nothing to do: no such event, or it is delivered or failed.
    Settled,
    /// The source does not push now (no target, or the target is disabled): it stays pending.
    Paused,
    /// An earlier event of the ordered source is pending: its settling hands the turn on.
    Blocked,
    /// The source's concurrency is used: the attempt ends without counting, and the next
    /// settling attempt of the source (or the resume sweep) hands the turn on.
    Busy,
    /// Not now (another attempt holds it, the source's concurrency or rate is used, or its
    /// retry time has not come): ask again at this time (ms).
    Wait(i64),
}

/// What a claimed delivery attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target answered 2xx.
    Delivered {
        /// The status.
        status: u16,
    },
    /// Failed; retry at `at_ms`.
    Retry {
        /// When.
        at_ms: i64,
        /// Why (no secret, no body).
        error: String,
        /// The status, if any.
        status: Option<u16>,
    },
    /// Failed for good (the last attempt).
    Failed {
        /// Why.
        error: String,
        /// The status, if any.
        status: Option<u16>,
    },
    /// The target answered 410 Gone: the event failed and the source's target is disabled.
    Gone,
}

/// `event_settle`: the end of a claimed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSettle {
    /// The event.
    pub id: EventId,
    /// The claim's token.
    pub token: String,
    /// Now (ms).
    pub now_ms: i64,
    /// How it went.
    pub outcome: Outcome,
}

/// `event_resume`: the sweep that gives stranded events their delivery job back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventResume {
    /// Now (ms).
    pub now_ms: i64,
    /// Only events due for at least this long (ms) and not held by an attempt.
    pub grace_ms: i64,
    /// Most events looked at.
    pub limit: u32,
}

/// Of `due` (pending, due, unheld events of pushing sources, oldest first, each with its
/// source), the ones a resume enqueues: an ordered source's first only, at most a source's
/// concurrency of the others.
pub fn resume_pick(due: &[(Event, Source)]) -> Vec<&Event> {
    let mut taken: std::collections::HashMap<(&TenantId, &SourceName), u32> = Default::default();
    let mut out = Vec::new();
    for (e, s) in due {
        let Some(t) = s.target.as_ref().filter(|t| !t.disabled) else {
            continue;
        };
        let n = taken.entry((&e.tenant, &e.source)).or_default();
        if *n < t.effective_concurrency() {
            *n += 1;
            out.push(e);
        }
    }
    out
}

/// A tenant's inbox in numbers.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub struct InboxStats {
    /// Pending events.
    pub pending: u64,
    /// Delivered (or acknowledged) events.
    pub delivered: u64,
    /// Failed events.
    pub failed: u64,
    /// Arrival of the oldest pending event (ms).
    pub oldest_pending_at_ms: Option<i64>,
}

/// What a store knows when it decides a claim, read in the claim's atomic step.
#[derive(Clone, Copy, Debug)]
pub struct ClaimView<'a> {
    /// The source.
    pub source: &'a Source,
    /// The event.
    pub event: &'a Event,
    /// The source's other events held by a live attempt.
    pub in_flight: u32,
    /// True when a pending event of the source arrived before this one.
    pub earlier_pending: bool,
    /// When the source's last attempt was granted (ms).
    pub last_claim_ms: Option<i64>,
}

/// The decision of a claim at `now_ms`; `None` grants it.
pub fn claim_decide(v: ClaimView<'_>, now_ms: i64) -> Option<Claim> {
    if v.event.status != EventStatus::Pending {
        return Some(Claim::Settled);
    }
    let Some(target) = v.source.target.as_ref().filter(|t| !t.disabled) else {
        return Some(Claim::Paused);
    };
    if let Some(until) = v.event.claimed_until_ms.filter(|c| *c > now_ms) {
        return Some(Claim::Wait(until));
    }
    if v.event.next_attempt_at_ms > now_ms {
        return Some(Claim::Wait(v.event.next_attempt_at_ms));
    }
    if target.ordered && v.earlier_pending {
        return Some(Claim::Blocked);
    }
    if v.in_flight >= target.effective_concurrency() {
        return Some(Claim::Busy);
    }
    if let (Some(rate), Some(last)) = (target.rate_per_sec, v.last_claim_ms) {
        let gap = (1_000 / i64::from(rate.max(1))).max(1);
        if now_ms < last + gap {
            return Some(Claim::Wait(last + gap));
        }
    }
    None
}

/// The event after a granted claim: held by `token`, its attempt counted.
pub fn claim_apply(e: &mut Event, req: &EventClaim) {
    e.attempts += 1;
    e.claim_token = Some(req.token.clone());
    e.claimed_until_ms = Some(req.now_ms + req.hold_ms);
}

/// The event after `s` settled it (the caller checked the token); true when `s` disables the
/// source's target (410).
pub fn settle_apply(e: &mut Event, s: &EventSettle) -> bool {
    e.claim_token = None;
    e.claimed_until_ms = None;
    let cut = |m: &str| m.chars().take(MAX_ERROR_CHARS).collect::<String>();
    match &s.outcome {
        Outcome::Delivered { status } => {
            e.status = EventStatus::Delivered;
            e.delivered_at_ms = Some(s.now_ms);
            e.last_status = Some(*status);
            e.last_error = None;
            false
        }
        Outcome::Retry {
            at_ms,
            error,
            status,
        } => {
            e.next_attempt_at_ms = *at_ms;
            e.last_error = Some(cut(error));
            e.last_status = *status;
            false
        }
        Outcome::Failed { error, status } => {
            e.status = EventStatus::Failed;
            e.last_error = Some(cut(error));
            e.last_status = *status;
            false
        }
        Outcome::Gone => {
            e.status = EventStatus::Failed;
            e.last_error = Some("the target answered 410 Gone; its pushes are disabled".into());
            e.last_status = Some(410);
            true
        }
    }
}

/// The event after a replay at `now_ms`: pending again with a fresh attempt count (an event
/// already pending keeps its schedule).
pub fn replay_apply(e: &mut Event, now_ms: i64) {
    if e.status != EventStatus::Pending {
        e.status = EventStatus::Pending;
        e.attempts = 0;
        e.next_attempt_at_ms = now_ms;
        e.claim_token = None;
        e.claimed_until_ms = None;
        e.delivered_at_ms = None;
    }
}
