//! Inbound webhooks: provider signature verifiers over the raw bytes, sources, the durable
//! inbox with its replay guard, and delivery to the app.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod verify;

pub use verify::{
    verify, HmacAlgorithm, HmacScheme, Inbound, Provider, SecretError, SignatureEncoding, Verified,
    VerifyError,
};
