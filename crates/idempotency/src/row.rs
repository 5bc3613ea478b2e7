//! The column encoding of an entry shared by the SQL and Redis stores, and refusal decoding.

use crate::fingerprint::Fingerprint;
use crate::model::{
    check_holder, decide_begin, BeginDecision, BeginOutcome, Entry, EntryState, EntryToken,
    EntryUpdate, IdempotencyBegin, RecoveryPoint, StoredResponse,
};
use palisade_core::StoreError;

/// `state` column value of an in-flight entry.
pub const IN_FLIGHT: &str = "in_flight";
/// `state` column value of a completed entry.
pub const COMPLETED: &str = "completed";

/// An entry as stored: tokens only as SHA-256 hex, headers and recovery data as JSON text.
#[derive(Clone, Debug, Default)]
pub struct EntryRow {
    /// Fingerprint hex.
    pub fingerprint: String,
    /// SHA-256 hex of the holder's token.
    pub token_hash: String,
    /// Claims so far.
    pub attempt: i64,
    /// [`IN_FLIGHT`] or [`COMPLETED`].
    pub state: String,
    /// Lock deadline (ms).
    pub locked_until_ms: i64,
    /// Expiry (ms).
    pub expires_at_ms: i64,
    /// Recovery point name.
    pub recovery_name: Option<String>,
    /// Recovery point data, JSON text.
    pub recovery_data: Option<String>,
    /// Stored status.
    pub response_status: Option<i64>,
    /// Stored headers, JSON `[[name, value], …]`.
    pub response_headers: Option<String>,
    /// Stored body.
    pub response_body: Option<Vec<u8>>,
}

impl EntryToken {
    /// The SHA-256 hex that stores keep instead of the token.
    pub fn hash(&self) -> String {
        palisade_core::secret::sha256_hex(self.0.as_bytes())
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("idempotency entry: {what}"))
}

/// JSON text of a recovery point's data.
pub fn encode_data(p: &RecoveryPoint) -> String {
    p.data.to_string()
}

/// JSON text of stored headers.
pub fn encode_headers(r: &StoredResponse) -> String {
    serde_json::to_string(&r.headers).unwrap_or_else(|_| "[]".into())
}

/// Decodes a recovery point from its columns.
pub fn decode_point(
    name: Option<String>,
    data: Option<String>,
) -> Result<Option<RecoveryPoint>, StoreError> {
    match name {
        None => Ok(None),
        Some(name) => {
            let data = serde_json::from_str(data.as_deref().unwrap_or("null"))
                .map_err(|_| corrupt("recovery data"))?;
            Ok(Some(RecoveryPoint { name, data }))
        }
    }
}

impl EntryRow {
    /// The entry this row holds (its token is the hash).
    pub fn into_entry(self) -> Result<Entry, StoreError> {
        let state = match self.state.as_str() {
            IN_FLIGHT => EntryState::InFlight {
                locked_until_ms: self.locked_until_ms,
                recovery_point: decode_point(self.recovery_name, self.recovery_data)?,
            },
            COMPLETED => EntryState::Completed(StoredResponse {
                status: self
                    .response_status
                    .and_then(|s| u16::try_from(s).ok())
                    .ok_or_else(|| corrupt("status"))?,
                headers: serde_json::from_str(self.response_headers.as_deref().unwrap_or("[]"))
                    .map_err(|_| corrupt("headers"))?,
                body: self.response_body.unwrap_or_default(),
            }),
            _ => return Err(corrupt("state")),
        };
        Ok(Entry {
            fingerprint: Fingerprint::from_hex(self.fingerprint),
            token: EntryToken(self.token_hash),
            attempt: u32::try_from(self.attempt).map_err(|_| corrupt("attempt"))?,
            expires_at_ms: self.expires_at_ms,
            state,
        })
    }
}

/// Why a begin whose atomic claim wrote nothing was refused, judged on the row read after it;
/// `None` when the row is gone or claimable by now (the caller claims again).
pub fn begin_refusal(
    row: Option<EntryRow>,
    req: &IdempotencyBegin,
    now_ms: i64,
) -> Result<Option<BeginOutcome>, StoreError> {
    let Some(row) = row else { return Ok(None) };
    match decide_begin(Some(&row.into_entry()?), req, now_ms) {
        BeginDecision::Refuse(out) => Ok(Some(out)),
        BeginDecision::Claim(_) => Ok(None),
    }
}

/// Why a token-checked update that changed nothing was refused, judged on the row read after it.
pub fn update_refusal(
    row: Option<EntryRow>,
    token: &EntryToken,
    now_ms: i64,
) -> Result<EntryUpdate, StoreError> {
    let entry = row.map(EntryRow::into_entry).transpose()?;
    let hashed = EntryToken(token.hash());
    // A row the update should have matched was changed in between: another holder took it.
    Ok(check_holder(entry.as_ref(), &hashed, now_ms).unwrap_or(EntryUpdate::TokenMismatch))
}
