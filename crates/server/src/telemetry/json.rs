//! The JSON log layer: one object per event with its fields and those of its enclosing spans.

use std::io::Write as _;

use serde::Serialize;
use serde_json::Value;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::fields::{Fields, RedactingVisitor};

/// Keys this layer writes itself; an event or span field with one of these names is written as
/// `fields.<name>` instead.
const RESERVED: &[&str] = &["timestamp", "level", "target", "span", "message"];

/// A span's recorded fields (already redacted), kept in the span's extensions.
struct SpanFields(Fields);

/// Writes each event as one JSON object on its own line:
/// `{"timestamp","level","target","span","message", <span fields, outermost first>, <event fields>}`.
///
/// An event field overrides a span field of the same name, an inner span's an outer's.
pub struct JsonLayer<W> {
    make_writer: W,
}

impl<W> JsonLayer<W> {
    /// A layer writing to `make_writer`.
    pub fn new(make_writer: W) -> Self {
        JsonLayer { make_writer }
    }
}

impl<W> std::fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLayer").finish_non_exhaustive()
    }
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut RedactingVisitor(&mut fields));
        span.extensions_mut().replace(SpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            values.record(&mut RedactingVisitor(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let line = format_event(event, &ctx);
        let mut writer = self.make_writer.make_writer_for(event.metadata());
        // A log line that cannot be written has nowhere to be reported.
        let _ = writer.write_all(&line);
    }
}

/// The event as one JSON line.
fn format_event<S>(event: &Event<'_>, ctx: &Context<'_, S>) -> Vec<u8>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let meta = event.metadata();
    let mut own = Fields::default();
    event.record(&mut RedactingVisitor(&mut own));
    let message = own.take("message");
    // Events bridged from the `log` crate carry their real target as a field.
    let log_target = own.take("log.target");
    own.0.retain(|(name, _)| !name.starts_with("log."));

    let spans: Vec<_> = ctx
        .event_scope(event)
        .map(|scope| scope.from_root().collect())
        .unwrap_or_default();
    let extensions: Vec<_> = spans.iter().map(|span| span.extensions()).collect();

    let mut merged: Vec<(&str, &Value)> = Vec::new();
    let span_fields = extensions.iter().filter_map(|ext| ext.get::<SpanFields>());
    for (name, value) in span_fields.flat_map(|f| f.0 .0.iter()).chain(own.0.iter()) {
        match merged.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => merged.push((name, value)),
        }
    }

    let mut out = JsonObject::with_capacity(256);
    out.entry("timestamp", &timestamp());
    out.entry("level", meta.level().as_str());
    match &log_target {
        Some(Value::String(target)) => out.entry("target", target),
        _ => out.entry("target", meta.target()),
    }
    if let Some(span) = spans.last() {
        out.entry("span", span.name());
    }
    if let Some(message) = &message {
        out.entry("message", message);
    }
    for (name, value) in merged {
        if RESERVED.contains(&name) {
            out.entry(&format!("fields.{name}"), value);
        } else {
            out.entry(name, value);
        }
    }
    out.finish()
}

/// The current time in RFC 3339, UTC, with microseconds.
fn timestamp() -> String {
    let mut text = String::with_capacity(32);
    // Formatting into a `String` cannot fail.
    let _ = SystemTime.format_time(&mut Writer::new(&mut text));
    text
}

/// A JSON object written key by key, in order, with serde_json doing the escaping.
struct JsonObject {
    buf: Vec<u8>,
}

impl JsonObject {
    fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.push(b'{');
        JsonObject { buf }
    }

    fn entry(&mut self, key: &str, value: &(impl Serialize + ?Sized)) {
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        // Serialising strings and `Value`s into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, key);
        self.buf.push(b':');
        let _ = serde_json::to_writer(&mut self.buf, value);
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(b"}\n");
        self.buf
    }
}
