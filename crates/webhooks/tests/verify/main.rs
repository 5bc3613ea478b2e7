//! The signature verifiers against provider-published and SDK-produced vectors, and the
//! refusals every scheme owes (tampered, truncated, empty, wrong secret, duplicated header,
//! wrong encoding), plus requests signed by the providers' SDKs (`sdk`).

mod common;
mod github;
mod hmac;
mod props;
mod sdk;
mod shopify;
mod slack;
mod standard;
mod stripe;
mod twilio;
