//! Cursor pagination: a bounded page request and the page that answers it.

use serde::{Deserialize, Serialize};

/// The largest page any list endpoint returns.
pub const MAX_PAGE: u32 = 200;
/// The page size when the caller names none.
pub const DEFAULT_PAGE: u32 = 50;

/// Which page to read: items strictly after the opaque `after` cursor, at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    /// Cursor returned as `next` by the previous page.
    pub after: Option<String>,
    /// Page size, 1..=[`MAX_PAGE`].
    pub limit: u32,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { after: None, limit }
    }
}

/// One page of items and the cursor of the next page (absent on the last page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in the listing's stable order.
    pub items: Vec<T>,
    /// Cursor for the next page; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row proves a next page exists,
    /// and `cursor` names the last item returned.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more { rows.last().map(cursor) } else { None };
        Self { items: rows, next }
    }
}

/// The cursor a client sees for a store's raw `after` value: base64url of it and a short
/// check, so that a cursor Palisade did not hand out is refused instead of read as a position.
pub fn cursor_encode(raw: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    format!("{b64}.{}", &crate::secret::sha256_hex(raw.as_bytes())[..8])
}

/// The raw `after` value of a cursor made by [`cursor_encode`]; `None` for anything else.
pub fn cursor_decode(cursor: &str) -> Option<String> {
    use base64::Engine as _;
    let (b64, check) = cursor.split_once('.')?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let sum = crate::secret::sha256_hex(raw.as_bytes());
    (sum[..8] == *check).then_some(raw) // ct-ok: an unkeyed checksum of a public cursor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for raw in ["ten_abc", "job_01a2|x", "", "ünï"] {
            assert_eq!(cursor_decode(&cursor_encode(raw)).as_deref(), Some(raw));
        }
        for bad in ["garbage", "%%%", "dGVuX2FiYw.00000000", ".", "dGVuX2FiYw"] {
            assert_eq!(cursor_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn extra_row_yields_cursor() {
        let p = Page::from_rows(vec![1, 2, 3], 2, |i| i.to_string());
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next.as_deref(), Some("2"));
        let last = Page::from_rows(vec![1, 2], 2, |i| i.to_string());
        assert_eq!(last.next, None);
    }
}
