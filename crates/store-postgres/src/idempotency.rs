//! PostgreSQL implementation of the idempotency store.
