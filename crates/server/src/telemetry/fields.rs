//! Field values as redacted JSON values, in the order they were recorded.

use std::fmt;

use palisade_core::redact::{is_sensitive_field, redact};
use serde_json::Value;
use tracing::field::{Field, Visit};

/// What a sensitive field's value is replaced by.
pub(super) const REDACTED: &str = "[REDACTED]";

/// Recorded fields: name and redacted value, first-recorded first; recording a name again
/// replaces its value in place.
#[derive(Debug, Default)]
pub(super) struct Fields(pub(super) Vec<(&'static str, Value)>);

impl Fields {
    /// Sets `name` to `value`, keeping the position of an earlier value of `name`.
    pub(super) fn set(&mut self, name: &'static str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// Removes and returns the value of `name`.
    pub(super) fn take(&mut self, name: &str) -> Option<Value> {
        let at = self.0.iter().position(|(n, _)| *n == name)?;
        Some(self.0.remove(at).1)
    }
}

/// A `Visit`or that records every field into [`Fields`], redacted.
pub(super) struct RedactingVisitor<'a>(pub(super) &'a mut Fields);

impl RedactingVisitor<'_> {
    /// Records `field`, computing its value only when the name is not sensitive.
    fn put(&mut self, field: &Field, value: impl FnOnce() -> Value) {
        let name = field.name();
        let value = if is_sensitive_field(name) {
            Value::String(REDACTED.to_owned())
        } else {
            value()
        };
        self.0.set(name, value);
    }

    fn put_text(&mut self, field: &Field, text: &str) {
        self.put(field, || Value::String(redact(text).into_owned()));
    }
}

impl Visit for RedactingVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, || Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, || Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, || Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, || number_or_text(i64::try_from(value).ok(), value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, || number_or_text(u64::try_from(value).ok(), value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, || Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put_text(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put_text(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put_text(field, &format!("{value:?}"));
    }
}

/// A JSON number when it fits in 64 bits, else its decimal text (JSON readers lose precision).
fn number_or_text<N: Into<Value>>(fits: Option<N>, value: impl fmt::Display) -> Value {
    fits.map_or_else(|| Value::String(value.to_string()), Into::into)
}
