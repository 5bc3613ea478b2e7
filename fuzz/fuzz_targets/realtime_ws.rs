//! Fuzzes the realtime WebSocket client messages (`GET /v1/realtime/ws`): parsing never
//! panics, a message over the cap is refused as too large, and a parsed subscription's target
//! comes back in the server's messages as a string.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_realtime::{ws_notice, WsBadMessage, WsRequest, WS_MAX_MESSAGE_BYTES};

fuzz_target!(|text: &str| {
    match WsRequest::parse(text) {
        Err(WsBadMessage::TooLarge) => assert!(text.len() > WS_MAX_MESSAGE_BYTES),
        Err(_) => assert!(text.len() <= WS_MAX_MESSAGE_BYTES),
        Ok(WsRequest::Subscribe { target, .. } | WsRequest::Unsubscribe { target }) => {
            let m: serde_json::Value =
                serde_json::from_str(&ws_notice("subscribed", Some(&target), serde_json::json!({})))
                    .expect("valid JSON");
            assert!(m["topic"].is_string() || m["job"].is_string());
        }
        Ok(WsRequest::Auth { .. }) => {}
    }
});
