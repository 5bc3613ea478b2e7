//! Integration tests of palisade-fetch against real local servers and a DNS stub.

mod caps;
mod lint;
mod metrics;
mod preview;
mod redirects;
mod ssrf;
mod support;
