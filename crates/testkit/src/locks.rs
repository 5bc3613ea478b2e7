//! Conformance suite of the locks stores.
