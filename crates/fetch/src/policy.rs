//! The address policy: the deny list, this host's own addresses and the operator's allowlist.

use crate::rule::{self, Rule};
use ipnet::IpNet;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

/// What one lane of the client may reach: deny rules minus the operator's allowlist.
///
/// Built only from operator configuration (never from a tenant's request), so a tenant cannot
/// widen it.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow_cidrs: Vec<IpNet>,
    allow_hosts: HashSet<String>,
    host_addrs: HashSet<IpAddr>,
}

impl AddressPolicy {
    /// A policy with this allowlist (canonical lowercase host names, CIDRs) and host addresses.
    pub fn new(
        allow_hosts: HashSet<String>,
        allow_cidrs: Vec<IpNet>,
        host_addrs: HashSet<IpAddr>,
    ) -> Self {
        Self {
            allow_cidrs,
            allow_hosts,
            host_addrs,
        }
    }

    /// This policy widened by another allowlist (a tenant's, from configuration).
    pub fn widened(&self, hosts: &HashSet<String>, cidrs: &[IpNet]) -> Self {
        let mut p = self.clone();
        p.allow_hosts.extend(hosts.iter().cloned());
        p.allow_cidrs.extend_from_slice(cidrs);
        p
    }

    /// Whether the operator allowed this host name (whatever it resolves to).
    pub fn host_allowed(&self, host: &str) -> bool {
        self.allow_hosts.contains(host)
    }

    /// Checks one address: allowed unless a deny rule or a host address matches and no CIDR
    /// of the allowlist covers it. An allowlisted IPv6 form that embeds IPv4 must also pass
    /// with its embedded address.
    pub fn ip_check(&self, ip: IpAddr) -> Result<(), Rule> {
        if self.allow_cidrs.iter().any(|n| n.contains(&ip)) {
            return match ip {
                IpAddr::V6(v6) => match rule::embedded_v4(v6) {
                    Some(v4) => self.ip_check(IpAddr::V4(v4)),
                    None => Ok(()),
                },
                IpAddr::V4(_) => Ok(()),
            };
        }
        if let Some(r) = rule::denied(ip) {
            return Err(r);
        }
        if self.host_addrs.contains(&ip) {
            return Err(Rule::HOST_ADDRESS);
        }
        Ok(())
    }

    /// Checks every address a name resolved to: all must pass (one internal address refuses
    /// the whole answer), and a zone id is refused.
    pub fn answer_check(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), Rule> {
        if let Some(SocketAddr::V6(_)) = addrs
            .iter()
            .find(|a| matches!(a, SocketAddr::V6(v) if v.scope_id() != 0))
        {
            return Err(Rule::ZONE_ID);
        }
        if self.host_allowed(host) {
            return Ok(());
        }
        addrs.iter().try_for_each(|a| self.ip_check(a.ip()))
    }
}

/// The addresses of this host's network interfaces (empty when they cannot be listed).
pub fn host_addresses() -> HashSet<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(list) => list.into_iter().map(|i| i.ip()).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list this host's interface addresses");
            HashSet::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allowlist_opens_a_cidr_but_not_its_mapped_forms() {
        let p = AddressPolicy::new(
            HashSet::new(),
            vec!["127.0.0.1/32".parse().unwrap()],
            HashSet::new(),
        );
        assert_eq!(p.ip_check(ip("127.0.0.1")), Ok(()));
        assert_eq!(p.ip_check(ip("127.0.0.2")), Err(Rule::LOOPBACK));
        assert_eq!(p.ip_check(ip("::ffff:127.0.0.1")), Err(Rule::IPV4_MAPPED));
    }

    #[test]
    fn allowlisted_v6_form_still_checks_its_embedded_v4() {
        let p = AddressPolicy::new(
            HashSet::new(),
            vec!["2002::/16".parse().unwrap()],
            HashSet::new(),
        );
        assert_eq!(p.ip_check(ip("2002:0a00:0001::1")), Err(Rule::PRIVATE));
        assert_eq!(p.ip_check(ip("2002:5db8:d822::1")), Ok(()));
    }

    #[test]
    fn host_addresses_are_denied_and_discovered() {
        let own: HashSet<IpAddr> = [ip("8.8.8.8")].into();
        let p = AddressPolicy::new(HashSet::new(), vec![], own);
        assert_eq!(p.ip_check(ip("8.8.8.8")), Err(Rule::HOST_ADDRESS));
        assert!(host_addresses().contains(&ip("127.0.0.1")));
    }

    #[test]
    fn one_internal_address_refuses_the_answer() {
        let p = AddressPolicy::default();
        let a: Vec<SocketAddr> = vec![
            "93.184.216.34:80".parse().unwrap(),
            "10.0.0.1:80".parse().unwrap(),
        ];
        assert_eq!(p.answer_check("example.com", &a), Err(Rule::PRIVATE));
    }
}
