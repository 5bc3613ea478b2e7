//! Redis implementation of the idempotency store.
