//! Event ids inside a signed JSON body (Stripe's `id`, Slack's `event_id`).

use serde::Deserialize;

use super::header::id_ok;

/// Stripe's event object: `{"id": "evt_…", …}`.
#[derive(Deserialize)]
struct StripeEvent {
    id: Option<String>,
}

/// Slack's Events API envelope: `{"event_id": "Ev…", …}`.
#[derive(Deserialize)]
struct SlackEnvelope {
    event_id: Option<String>,
}

/// The top-level `id` of a JSON object body, if it is a fit id (a duplicated key, another
/// type or a body that is no JSON object give None).
pub(super) fn stripe_event(body: &[u8]) -> Option<String> {
    let e: StripeEvent = serde_json::from_slice(body).ok()?;
    e.id.filter(|id| id_ok(id))
}

/// The top-level `event_id` of a JSON object body (slash commands and interactions are
/// forms: None).
pub(super) fn slack_event(body: &[u8]) -> Option<String> {
    let e: SlackEnvelope = serde_json::from_slice(body).ok()?;
    e.event_id.filter(|id| id_ok(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_only_and_unambiguous() {
        assert_eq!(
            stripe_event(br#"{"id":"evt_1","data":{"id":"x"}}"#),
            Some("evt_1".into())
        );
        assert_eq!(stripe_event(br#"{"data":{"id":"x"}}"#), None);
        assert_eq!(stripe_event(br#"{"id":"evt_1","id":"evt_2"}"#), None);
        assert_eq!(stripe_event(br#"{"id":7}"#), None);
        assert_eq!(stripe_event(br#"{"id":"has space"}"#), None);
        assert_eq!(stripe_event(b"id=evt_1"), None);
        assert_eq!(
            slack_event(br#"{"event_id":"Ev1","id":"x"}"#),
            Some("Ev1".into())
        );
        assert_eq!(slack_event(b"token=x&event_id=Ev1"), None);
    }
}
