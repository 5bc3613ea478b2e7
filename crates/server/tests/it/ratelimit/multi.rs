//! Several instances: one global quota over Redis and over PostgreSQL, overrides everywhere, fallback.
