//! PostgreSQL implementation of the locks store.
