//! PostgreSQL implementation of the ratelimit store.
