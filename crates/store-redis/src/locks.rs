//! Redis implementation of the locks store.
