//! Conformance suite of the ratelimit stores.
