//! SQLite implementation of the locks store.
