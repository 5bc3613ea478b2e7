//! SQLite implementation of the idempotency store.
