//! The WebSocket protocol of realtime streams: the client's messages (parsed from untrusted
//! text, with a size cap) and the server's, over the same frames as SSE.

use crate::life::Frame;
use serde::Deserialize;
use serde_json::{json, Value};

/// The largest client message accepted (bytes of text): more closes the connection with
/// code 1009. A token is at most 6 KiB, so every valid message fits.
pub const WS_MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// What a subscription reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WsTarget {
    /// A topic, by name (checked when subscribing).
    Topic(String),
    /// A job, by id (checked when subscribing).
    Job(String),
}

impl WsTarget {
    /// The target as the fields of a server message: `{"topic": …}` or `{"job": …}`.
    fn fields(&self) -> (&'static str, &str) {
        match self {
            Self::Topic(t) => ("topic", t),
            Self::Job(j) => ("job", j),
        }
    }
}

/// One client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsRequest {
    /// `{"type":"auth","token":…}`: the first message (unless the upgrade carried a tenant key).
    Auth {
        /// The stream token.
        token: String,
    },
    /// `{"type":"subscribe","topic"|"job":…,"offset":n?}`: follow a topic or a job, resuming
    /// after event id `offset` when given.
    Subscribe {
        /// What to follow.
        target: WsTarget,
        /// Resume after this event id.
        offset: Option<u64>,
    },
    /// `{"type":"unsubscribe","topic"|"job":…}`.
    Unsubscribe {
        /// What to stop following.
        target: WsTarget,
    },
}

/// Why a client message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsBadMessage {
    /// Over [`WS_MAX_MESSAGE_BYTES`]: the connection closes (1009).
    TooLarge,
    /// Not JSON: the connection closes (1007).
    NotJson,
    /// JSON of the wrong shape: answered with an `error` message naming what is expected.
    Invalid(&'static str),
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    token: Option<String>,
    topic: Option<String>,
    job: Option<String>,
    offset: Option<u64>,
}

impl WsRequest {
    /// Parses one text message; never panics, whatever the input.
    pub fn parse(text: &str) -> Result<Self, WsBadMessage> {
        if text.len() > WS_MAX_MESSAGE_BYTES {
            return Err(WsBadMessage::TooLarge);
        }
        let v: Value = serde_json::from_str(text).map_err(|_| WsBadMessage::NotJson)?;
        let shape = "an object {\"type\": \"auth\" | \"subscribe\" | \"unsubscribe\", …}";
        let raw: Raw = serde_json::from_value(v).map_err(|_| WsBadMessage::Invalid(shape))?;
        let target = |raw: &Raw| match (&raw.topic, &raw.job) {
            (Some(t), None) => Ok(WsTarget::Topic(t.clone())),
            (None, Some(j)) => Ok(WsTarget::Job(j.clone())),
            _ => Err(WsBadMessage::Invalid(
                "topic or job: exactly one of the two, a string",
            )),
        };
        match raw.kind.as_deref() {
            Some("auth") => match raw.token {
                Some(token) => Ok(Self::Auth { token }),
                None => Err(WsBadMessage::Invalid("token: the stream token, a string")),
            },
            Some("subscribe") => Ok(Self::Subscribe {
                target: target(&raw)?,
                offset: raw.offset,
            }),
            Some("unsubscribe") => Ok(Self::Unsubscribe {
                target: target(&raw)?,
            }),
            _ => Err(WsBadMessage::Invalid(
                "type: one of \"auth\", \"subscribe\", \"unsubscribe\"",
            )),
        }
    }
}

/// The server message carrying `frame` of the subscription to `target`: `event` (with its id
/// and the published JSON), `gap`, or `closed` (the subscription's last message).
pub fn ws_message(target: &WsTarget, frame: &Frame) -> String {
    let (field, name) = target.fields();
    let data: Value = serde_json::from_str(&frame.data).unwrap_or(Value::Null);
    let mut m = match frame.event {
        None => json!({ "type": "event", "id": frame.id, "data": data }),
        Some("gap") => json!({ "type": "gap", "data": data }),
        Some(_) => {
            let mut m = json!({ "type": "closed" });
            if let (Value::Object(o), Value::Object(d)) = (&mut m, data) {
                o.extend(d);
            }
            m
        }
    };
    m[field] = Value::String(name.to_owned());
    m.to_string()
}

/// A server message of `kind` about `target` (e.g. `subscribed`), with `extra` fields.
pub fn ws_notice(kind: &str, target: Option<&WsTarget>, extra: Value) -> String {
    let mut m = json!({ "type": kind });
    if let Some(t) = target {
        let (field, name) = t.fields();
        m[field] = Value::String(name.to_owned());
    }
    if let (Value::Object(o), Value::Object(e)) = (&mut m, extra) {
        o.extend(e);
    }
    m.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_message_and_refuses_bad_ones() {
        assert_eq!(
            WsRequest::parse(r#"{"type":"auth","token":"pst1.x"}"#),
            Ok(WsRequest::Auth {
                token: "pst1.x".into()
            })
        );
        assert_eq!(
            WsRequest::parse(r#"{"type":"subscribe","topic":"t","offset":4}"#),
            Ok(WsRequest::Subscribe {
                target: WsTarget::Topic("t".into()),
                offset: Some(4)
            })
        );
        assert_eq!(
            WsRequest::parse(r#"{"type":"unsubscribe","job":"job_1"}"#),
            Ok(WsRequest::Unsubscribe {
                target: WsTarget::Job("job_1".into())
            })
        );
        assert_eq!(WsRequest::parse("{nope"), Err(WsBadMessage::NotJson));
        let big = format!(r#"{{"type":"auth","token":"{}"}}"#, "a".repeat(20_000));
        assert_eq!(WsRequest::parse(&big), Err(WsBadMessage::TooLarge));
        for bad in [
            r#"{"type":"subscribe","topic":"t","job":"j"}"#,
            r#"{"type":"subscribe"}"#,
            r#"{"type":"dance"}"#,
            r#"{"type":"auth"}"#,
            r#"[1,2]"#,
            r#"{"type":"subscribe","topic":"t","offset":-1}"#,
        ] {
            assert!(
                matches!(WsRequest::parse(bad), Err(WsBadMessage::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn frames_become_messages_naming_their_subscription() {
        let t = WsTarget::Topic("orders".into());
        let m: Value =
            serde_json::from_str(&ws_message(&t, &Frame::data(3, "{\"n\":1}".into()))).unwrap();
        assert_eq!(
            m,
            json!({"type": "event", "topic": "orders", "id": "3", "data": {"n": 1}})
        );
        let close = Frame::close(crate::Close::TopicDeleted, Some("3".into()));
        let m: Value = serde_json::from_str(&ws_message(&t, &close)).unwrap();
        assert_eq!(m["type"], "closed");
        assert_eq!(m["reason"], "topic-deleted");
        assert_eq!(m["last_event_id"], "3");
    }
}
