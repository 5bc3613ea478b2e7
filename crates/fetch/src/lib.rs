//! Palisade fetch: the one outbound HTTP client — every resolved address checked and pinned, redirects re-checked, size and time caps.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
pub mod client;
pub mod error;
mod metrics;
pub mod model;
pub mod policy;
pub mod preview;
pub mod resolve;
pub mod rule;
pub mod settings;
pub mod target;

pub use client::{Fetcher, FetcherBuilder};
pub use error::FetchError;
pub use model::{FetchRequest, FetchResponse};
pub use preview::{preview_build, Preview, PreviewImage, PreviewRequest};
pub use resolve::{Resolver, SystemResolver};
pub use rule::Rule;
pub use settings::{AllowList, FetchSettings};
