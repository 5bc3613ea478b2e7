//! `GET /v1/realtime/ws`: the realtime streams over one WebSocket: authenticate (a stream
//! token as the first message, or a tenant key on the upgrade), then subscribe to topics and
//! jobs; each subscription is a stream with the SSE stream's rules (see docs/realtime.md).

use super::sse::{job_frames, key_claims, Asked};
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use futures::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use futures::StreamExt;
use palisade_realtime::{
    ws_message, ws_notice, Claims, Frame, RealtimeError, TopicName, WsBadMessage, WsRequest,
    WsTarget, WS_MAX_MESSAGE_BYTES,
};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How long a connection may wait before its `auth` message.
const AUTH_WAIT: Duration = Duration::from_secs(10);
/// Most subscriptions of one connection.
const MAX_SUBSCRIPTIONS: usize = 64;

/// The WebSocket route (authenticated inside the connection, or by tenant key).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(realtime_ws))
}

/// Realtime streams over a WebSocket.
///
/// Send `{"type":"auth","token":"pst1.…"}` first (or upgrade with a tenant key in
/// `Authorization: Bearer`), then `{"type":"subscribe","topic":"…"}` or
/// `{"type":"subscribe","job":"job_…","offset":n}` (resume after event id `n`) and
/// `{"type":"unsubscribe",…}`. The server answers `authenticated`, `subscribed`, `event`
/// (`id`, `data`), `gap`, `closed` (a subscription's end, with `reason`) and `error` (`code`:
/// `not-found`, `too-many-streams`, `invalid-request`, …) messages, pings every
/// `realtime.heartbeat_interval`, and ends the connection with a close frame whose reason is
/// the word of why: `token-expired`, `revoked`, `shutdown`, `stream-token-invalid`,
/// `auth-timeout`, `invalid-message` (not JSON, 1007), `message-too-large` (over 16 KiB, 1009).
#[utoipa::path(get, path = "/v1/realtime/ws", tag = "realtime",
    responses((status = 101, description = "Switching to the WebSocket protocol"),
              (status = 400, description = "Not a WebSocket upgrade"),
              (status = 401, description = "`unauthenticated`: the `Authorization` header names no valid tenant key")))]
async fn realtime_ws(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> crate::error::ApiResult<Response> {
    // A server may authenticate the upgrade with its tenant key.
    let caller = match headers.contains_key(header::AUTHORIZATION) {
        true => Some(crate::auth::tenant_caller(&state, &headers).await?),
        false => None,
    };
    let upgrade = upgrade
        .max_message_size(WS_MAX_MESSAGE_BYTES * 4)
        .max_frame_size(WS_MAX_MESSAGE_BYTES * 4);
    Ok(upgrade.on_upgrade(move |socket| async move {
        Connection::new(state, socket, caller).run().await;
    }))
}

/// Who the connection is.
enum Auth {
    /// A stream token's claims.
    Token(Claims),
    /// A tenant key: each subscription gets its own claims.
    Key(palisade_core::Caller),
}

type Subscription = BoxStream<'static, (WsTarget, Frame)>;

struct Connection {
    state: AppState,
    socket: WebSocket,
    key: Option<palisade_core::Caller>,
    subs: SelectAll<Subscription>,
    aborts: HashMap<WsTarget, AbortHandle>,
}

/// How a connection ends: a close frame with this code and reason, or nothing (client gone).
type End = Option<(u16, &'static str)>;

impl Connection {
    fn new(state: AppState, socket: WebSocket, key: Option<palisade_core::Caller>) -> Self {
        Self {
            state,
            socket,
            key,
            subs: SelectAll::new(),
            aborts: HashMap::new(),
        }
    }

    async fn run(mut self) {
        let end = match self.authenticate().await {
            Ok(auth) => self.serve(auth).await,
            Err(end) => end,
        };
        // Dropping the subscriptions releases their streams (slots, timers, hub receivers).
        self.subs = SelectAll::new();
        if let Some((code, reason)) = end {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                self.socket.send(Message::Close(Some(frame))),
            )
            .await;
        }
    }

    async fn send(&mut self, text: String) -> Result<(), End> {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| None)
    }

    /// The tenant key of the upgrade, or the claims of the first message's token.
    async fn authenticate(&mut self) -> Result<Auth, End> {
        if let Some(caller) = self.key.take() {
            self.send(ws_notice("authenticated", None, json!({})))
                .await?;
            return Ok(Auth::Key(caller));
        }
        let first = match tokio::time::timeout(AUTH_WAIT, self.socket.next()).await {
            Err(_) => return Err(Some((4408, "auth-timeout"))),
            Ok(None | Some(Err(_))) => return Err(None),
            Ok(Some(Ok(m))) => m,
        };
        let text = match first {
            Message::Text(t) => t,
            Message::Close(_) => return Err(None),
            _ => return Err(Some((1003, "invalid-message"))),
        };
        let token = match WsRequest::parse(text.as_str()) {
            Ok(WsRequest::Auth { token }) => token,
            Err(WsBadMessage::TooLarge) => return Err(Some((1009, "message-too-large"))),
            Err(WsBadMessage::NotJson) => return Err(Some((1007, "invalid-message"))),
            Ok(_) | Err(WsBadMessage::Invalid(_)) => {
                return Err(Some((4401, "stream-token-invalid")))
            }
        };
        match self.state.realtime.token_verify(&token).await {
            Ok(claims) => {
                let extra = json!({ "expires_at_ms": claims.exp_ms });
                self.send(ws_notice("authenticated", None, extra)).await?;
                Ok(Auth::Token(claims))
            }
            Err(RealtimeError::Token(t)) => Err(Some((4401, t.code()))),
            Err(_) => Err(Some((1011, "store-failed"))),
        }
    }

    /// Serves subscriptions until the connection must end.
    async fn serve(&mut self, auth: Auth) -> End {
        let rt = self.state.realtime.clone();
        let now = rt.store.realtime_now_ms();
        let (exp_ms, on_end) = match &auth {
            Auth::Token(c) => (c.exp_ms, "token-expired"),
            Auth::Key(_) => {
                let life = rt.settings.max_stream_lifetime.as_millis() as i64;
                (now + life, "max-lifetime")
            }
        };
        let base = match &auth {
            Auth::Token(c) => c.clone(),
            Auth::Key(caller) => key_claims(&self.state, caller.clone(), Asked::Topic("")),
        };
        let ends_at =
            tokio::time::Instant::now() + Duration::from_millis((exp_ms - now).max(0) as u64);
        let mut revocations = rt.hub.revocations();
        let shutdown = rt.shutting_down();
        tokio::pin!(shutdown);
        let every = rt.settings.heartbeat_interval;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            let result = tokio::select! {
                _ = &mut shutdown => return Some((1001, "shutdown")),
                _ = tokio::time::sleep_until(ends_at) => return Some((1000, on_end)),
                r = revocations.recv() => match r {
                    Ok(rev) if rev.covers(&base) => return Some((4403, "revoked")),
                    Ok(_) => Ok(()),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        return Some((1001, "shutdown"))
                    }
                    // Missed revocations: ask the store.
                    Err(_) => match rt.store.revocation_check(&base).await {
                        Ok(false) => Ok(()),
                        Ok(true) => return Some((4403, "revoked")),
                        Err(_) => return Some((1011, "store-failed")),
                    },
                },
                Some((target, frame)) = self.subs.next(), if !self.subs.is_empty() => {
                    self.deliver(target, frame).await
                }
                m = self.socket.next() => match m {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                    Some(Ok(Message::Text(t))) => self.request(&auth, t.as_str()).await,
                    Some(Ok(Message::Binary(_))) => return Some((1003, "invalid-message")),
                    Some(Ok(_)) => Ok(()), // ping / pong
                },
                _ = ping.tick() => self
                    .socket
                    .send(Message::Ping(Default::default()))
                    .await
                    .map_err(|_| None),
            };
            if let Err(end) = result {
                return end;
            }
        }
    }

    /// Sends one frame of a subscription; a close that concerns the whole connection ends it.
    async fn deliver(&mut self, target: WsTarget, frame: Frame) -> Result<(), End> {
        if frame.event == Some("close") {
            self.aborts.remove(&target);
            let reason = serde_json::from_str::<serde_json::Value>(&frame.data)
                .ok()
                .and_then(|v| v["reason"].as_str().map(str::to_owned));
            match reason.as_deref() {
                Some("token-expired") => return Err(Some((1000, "token-expired"))),
                Some("revoked") => return Err(Some((4403, "revoked"))),
                Some("shutdown") => return Err(Some((1001, "shutdown"))),
                _ => {}
            }
        }
        self.send(ws_message(&target, &frame)).await
    }

    /// Handles one client message after authentication.
    async fn request(&mut self, auth: &Auth, text: &str) -> Result<(), End> {
        let req = match WsRequest::parse(text) {
            Ok(r) => r,
            Err(WsBadMessage::TooLarge) => return Err(Some((1009, "message-too-large"))),
            Err(WsBadMessage::NotJson) => return Err(Some((1007, "invalid-message"))),
            Err(WsBadMessage::Invalid(expected)) => {
                let extra = json!({ "code": "invalid-request", "detail": expected });
                return self.send(ws_notice("error", None, extra)).await;
            }
        };
        match req {
            WsRequest::Auth { .. } => {
                let extra = json!({ "code": "invalid-request", "detail": "already authenticated" });
                self.send(ws_notice("error", None, extra)).await
            }
            WsRequest::Unsubscribe { target } => {
                if let Some(a) = self.aborts.remove(&target) {
                    a.abort();
                }
                self.send(ws_notice("unsubscribed", Some(&target), json!({})))
                    .await
            }
            WsRequest::Subscribe { target, offset } => {
                match self.subscribe(auth, &target, offset).await {
                    Ok(()) => {
                        self.send(ws_notice("subscribed", Some(&target), json!({})))
                            .await
                    }
                    Err((code, detail)) => {
                        let extra = json!({ "code": code, "detail": detail });
                        self.send(ws_notice("error", Some(&target), extra)).await
                    }
                }
            }
        }
    }

    /// Opens the stream of `target` as a subscription; or the error's code and detail.
    async fn subscribe(
        &mut self,
        auth: &Auth,
        target: &WsTarget,
        offset: Option<u64>,
    ) -> Result<(), (&'static str, &'static str)> {
        if self.aborts.contains_key(target) {
            return Err(("already-subscribed", "this connection follows it already"));
        }
        if self.aborts.len() >= MAX_SUBSCRIPTIONS {
            return Err((
                "too-many-subscriptions",
                "at most 64 subscriptions per connection",
            ));
        }
        let claims = match (auth, target) {
            (Auth::Token(c), _) => c.clone(),
            (Auth::Key(k), WsTarget::Topic(t)) => {
                key_claims(&self.state, k.clone(), Asked::Topic(t))
            }
            (Auth::Key(k), WsTarget::Job(j)) => key_claims(&self.state, k.clone(), Asked::Job(j)),
        };
        let rt = &self.state.realtime;
        let opened = match target {
            WsTarget::Topic(t) => {
                let topic = TopicName::parse(t).map_err(|_| refusal(RealtimeError::NotFound))?;
                rt.topic_stream(claims, topic, offset)
                    .await
                    .map(StreamExt::boxed)
            }
            WsTarget::Job(j) => {
                if !claims.covers_job(j) {
                    return Err(refusal(RealtimeError::NotFound));
                }
                job_frames(&self.state, claims, j, offset)
                    .await
                    .map(StreamExt::boxed)
            }
        };
        let frames = opened.map_err(refusal)?;
        let (handle, reg) = AbortHandle::new_pair();
        let t = target.clone();
        let tagged = Abortable::new(frames, reg).map(move |f| (t.clone(), f));
        self.subs.push(tagged.boxed());
        self.aborts.insert(target.clone(), handle);
        Ok(())
    }
}

/// A refused subscription's code and detail.
fn refusal(e: RealtimeError) -> (&'static str, &'static str) {
    match e {
        RealtimeError::NotFound => (
            "not-found",
            "the token does not cover it, or it does not exist",
        ),
        RealtimeError::TooManyStreams { .. } => (
            "too-many-streams",
            "the principal or the tenant holds as many open streams as it may",
        ),
        RealtimeError::Store(_) => ("store-unavailable", "retry later"),
        _ => ("internal", "retry later"),
    }
}
