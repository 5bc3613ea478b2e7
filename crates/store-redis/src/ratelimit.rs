//! Redis implementation of the ratelimit store.
