//! Name resolution: the resolver trait (tests inject a DNS stub) and the checking adapter the client dials through.

use crate::policy::AddressPolicy;
use crate::rule::Rule;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Resolves a host name to addresses. The system resolver by default; tests inject a stub.
#[async_trait::async_trait]
pub trait Resolver: Send + Sync + 'static {
    /// Every address `host` resolves to.
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (`getaddrinfo` on a blocking thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait::async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        let addrs = tokio::net::lookup_host((host, 0)).await?;
        Ok(addrs.map(|a| a.ip()).collect())
    }
}

/// The refusal a checked resolution returns; the client finds it in the error's source chain.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("resolved address blocked by rule {0}")]
pub struct AnswerBlocked(pub Rule);

/// The resolver the HTTP client dials through: it resolves once, checks every address and
/// hands the client only the addresses it checked, so the connection goes to a checked address
/// (DNS rebinding between the check and the connect is impossible: there is no second lookup).
pub(crate) struct CheckedResolver {
    pub(crate) inner: Arc<dyn Resolver>,
    pub(crate) policy: Arc<AddressPolicy>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let inner = self.inner.clone();
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = inner.resolve(&host).await?;
            let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            if addrs.is_empty() {
                return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no address").into());
            }
            policy.answer_check(&host, &addrs).map_err(AnswerBlocked)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
