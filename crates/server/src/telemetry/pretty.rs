//! Human-readable log lines (tracing-subscriber's formatter) with redacted fields and messages.

use std::fmt;

use serde_json::Value;
use tracing::Subscriber;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::fields::{Fields, RedactingVisitor};

/// tracing-subscriber's `fmt` layer with [`RedactingFields`] formatting every event and span;
/// colours only when `ansi`.
pub(super) fn layer<S, W>(make_writer: W, ansi: bool) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(RedactingFields)
        .with_ansi(ansi)
        .with_writer(make_writer)
}

/// Formats fields as `message key=value …`, every value redacted like the JSON layer's.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RedactingFields;

impl<'writer> FormatFields<'writer> for RedactingFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut recorded = Fields::default();
        fields.record(&mut RedactingVisitor(&mut recorded));
        let mut separator = "";
        if let Some(message) = recorded.take("message") {
            write_value(&mut writer, &message, false)?;
            separator = " ";
        }
        for (name, value) in &recorded.0 {
            write!(writer, "{separator}{name}=")?;
            write_value(&mut writer, value, true)?;
            separator = " ";
        }
        Ok(())
    }
}

/// Strings quoted when `quote`, else as they are but with control characters escaped (a line
/// break or terminal escape in a message cannot forge a log line); everything else as JSON.
fn write_value(writer: &mut Writer<'_>, value: &Value, quote: bool) -> fmt::Result {
    match value {
        Value::String(text) if quote => write!(writer, "{text:?}"),
        Value::String(text) => text.chars().try_for_each(|c| {
            if c.is_control() {
                write!(writer, "{}", c.escape_debug())
            } else {
                writer.write_char(c)
            }
        }),
        other => write!(writer, "{other}"),
    }
}
