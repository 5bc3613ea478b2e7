//! Conformance suite of the idempotency stores.
