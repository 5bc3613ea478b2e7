//! Which audit records to list: type and time filters, and the page after a cursor.

use palisade_core::audit::AuditEventType;
use palisade_core::page::{DEFAULT_PAGE, MAX_PAGE};
use palisade_core::FieldError;

/// Position in the listing (newest first): the time and id of the last record returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    /// Time of the last record returned.
    pub at_ms: i64,
    /// Id of the last record returned.
    pub id: String,
}

impl AuditCursor {
    /// The opaque text form, `<at_ms>.<id>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at_ms, self.id)
    }

    /// Parses [`Self::encode`]'s form.
    pub fn decode(s: &str) -> Option<Self> {
        let (at, id) = s.split_once('.')?;
        let ok_id = id.len() == 24
            && id.starts_with("aud_")
            && id[4..].bytes().all(|b| b.is_ascii_alphanumeric());
        Some(Self {
            at_ms: at.parse().ok().filter(|t: &i64| *t >= 0)?,
            id: ok_id.then(|| id.to_owned())?,
        })
    }
}

/// A validated listing: records of `kind` (any when `None`) with `since_ms <= at_ms < until_ms`,
/// newest first, at most `limit`, strictly after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this type.
    pub kind: Option<AuditEventType>,
    /// Inclusive lower bound of `at_ms`.
    pub since_ms: Option<i64>,
    /// Exclusive upper bound of `at_ms`.
    pub until_ms: Option<i64>,
    /// Page size, 1..=200.
    pub limit: u32,
    /// Continue after this record.
    pub after: Option<AuditCursor>,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            kind: None,
            since_ms: None,
            until_ms: None,
            limit: DEFAULT_PAGE,
            after: None,
        }
    }
}

/// The raw filter of a listing (e.g. from `?type=&since_ms=&until_ms=&limit=&cursor=`).
#[derive(Debug, Clone, Default)]
pub struct AuditQueryInput<'a> {
    /// An event type name (`auth.failure`, …).
    pub kind: Option<&'a str>,
    /// Inclusive lower bound (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Exclusive upper bound (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Page size.
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<&'a str>,
}

impl AuditQuery {
    /// Validates `input`, naming every bad field (`type`, `since_ms`, `until_ms`, `limit`,
    /// `cursor`) and what it expects.
    pub fn parse(input: &AuditQueryInput<'_>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let kind = input.kind.map(AuditEventType::parse);
        if kind == Some(None) {
            errors.push(FieldError::new(
                "type",
                "must be one of the audit event types",
            ));
        }
        for (field, v) in [("since_ms", input.since_ms), ("until_ms", input.until_ms)] {
            if v.is_some_and(|t| t < 0) {
                errors.push(FieldError::new(field, "must be ms since the epoch, >= 0"));
            }
        }
        if let (Some(s), Some(u)) = (input.since_ms, input.until_ms) {
            if u <= s {
                errors.push(FieldError::new("until_ms", "must be greater than since_ms"));
            }
        }
        let limit = input.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            errors.push(FieldError::new("limit", "must be between 1 and 200"));
        }
        let after = input.cursor.map(AuditCursor::decode);
        if after == Some(None) {
            errors.push(FieldError::new(
                "cursor",
                "must be a cursor returned as `next`",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            kind: kind.flatten(),
            since_ms: input.since_ms,
            until_ms: input.until_ms,
            limit,
            after: after.flatten(),
        })
    }
}

impl AuditQuery {
    /// Whether `rec` passes the type and time filters and lies after the cursor (newest-first
    /// order). Stores that filter in SQL keep the same rule.
    pub fn matches(&self, rec: &crate::AuditRecord) -> bool {
        self.kind.is_none_or(|k| k == rec.kind)
            && self.since_ms.is_none_or(|s| rec.at_ms >= s)
            && self.until_ms.is_none_or(|u| rec.at_ms < u)
            && self
                .after
                .as_ref()
                .is_none_or(|c| (rec.at_ms, rec.id.as_str()) < (c.at_ms, c.id.as_str()))
    }

    /// The page of up to `limit + 1` rows fetched in listing order.
    pub fn page(&self, rows: Vec<crate::AuditRecord>) -> palisade_core::Page<crate::AuditRecord> {
        palisade_core::Page::from_rows(rows, self.limit, |r| r.cursor().encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_junk() {
        let c = AuditCursor {
            at_ms: 12,
            id: "aud_abcdefghij0123456789".into(),
        };
        assert_eq!(AuditCursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "12",
            "x.aud_abcdefghij0123456789",
            "-1.aud_abcdefghij0123456789",
            "1.aud_'--",
        ] {
            assert_eq!(AuditCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn parse_names_every_bad_field() {
        let input = AuditQueryInput {
            kind: Some("nope"),
            since_ms: Some(10),
            until_ms: Some(5),
            limit: Some(0),
            cursor: Some("zz"),
        };
        let fields: Vec<_> = AuditQuery::parse(&input)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["type", "until_ms", "limit", "cursor"]);
        let ok = AuditQuery::parse(&AuditQueryInput {
            kind: Some("key.created"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.kind, Some(AuditEventType::KeyCreated));
        assert_eq!(ok.limit, DEFAULT_PAGE);
    }
}
