//! JSON logs with every field and message redacted.
