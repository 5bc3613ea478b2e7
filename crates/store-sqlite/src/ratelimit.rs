//! SQLite implementation of the ratelimit store.
