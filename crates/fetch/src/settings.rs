//! The fetch settings (serde, with defaults) and their validation, which names every bad key.

use bytesize::ByteSize;
use ipnet::IpNet;
use palisade_core::{FieldError, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use url::Host;

/// Serialises a size as its exact number of bytes (`ByteSize`'s own form is a rounded display
/// string such as `4.8 MiB`, which a layered configuration would read back as another size).
fn exact_bytes<S: serde::Serializer>(b: &ByteSize, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(b.as_u64())
}

/// The operator's configuration of the outbound client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchSettings {
    /// Ports a URL may name (default 80, 443).
    pub allow_ports: Vec<u16>,
    /// Private hosts and networks every fetch may reach anyway (apps on private networks).
    pub allow: AllowList,
    /// More allowed hosts and networks for one tenant's fetches only, by tenant id.
    pub tenants: BTreeMap<String, AllowList>,
    /// Redirects followed at most (each one checked like the first URL).
    pub max_redirects: u32,
    /// The response body cap, decompressed bytes (default 5 MB).
    #[serde(serialize_with = "exact_bytes")]
    pub max_body: ByteSize,
    /// The longest URL accepted, in bytes.
    pub max_url_len: usize,
    /// The cap on resolving and connecting.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// The cap from sending a request to its response head.
    #[serde(with = "humantime_serde")]
    pub first_byte_timeout: Duration,
    /// The cap on a whole fetch: every hop and the body.
    #[serde(with = "humantime_serde")]
    pub total_timeout: Duration,
    /// The `User-Agent` header of outbound requests.
    pub user_agent: String,
}

/// Hosts and networks the deny list lets through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AllowList {
    /// Domain names (any address they resolve to is allowed).
    pub hosts: Vec<String>,
    /// Networks in CIDR form (`10.1.0.0/16`, `fd00::/8`, `10.0.0.5/32`).
    pub cidrs: Vec<String>,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            allow_ports: vec![80, 443],
            allow: AllowList::default(),
            tenants: BTreeMap::new(),
            max_redirects: 5,
            max_body: ByteSize::mb(5),
            max_url_len: 2048,
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            user_agent: concat!("palisade/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// An allowlist in checked form.
#[derive(Debug, Clone, Default)]
pub struct AllowRules {
    /// Canonical host names.
    pub hosts: HashSet<String>,
    /// Networks.
    pub cidrs: Vec<IpNet>,
}

/// Settings that passed validation.
#[derive(Debug, Clone)]
pub struct ValidSettings {
    /// The settings.
    pub settings: FetchSettings,
    /// The global allowlist.
    pub allow: AllowRules,
    /// Each configured tenant's extra allowlist.
    pub tenants: HashMap<TenantId, AllowRules>,
}

impl FetchSettings {
    /// Checks every field, reporting every bad key at once (`allow.cidrs[1]`, `tenants.t1.hosts[0]`).
    pub fn validate(&self) -> Result<ValidSettings, Vec<FieldError>> {
        let mut e = Vec::new();
        self.limits_check(&mut e);
        let allow = allow_check("allow", &self.allow, &mut e);
        let mut tenants = HashMap::new();
        for (id, list) in &self.tenants {
            let field = format!("tenants.{id}");
            let rules = allow_check(&field, list, &mut e);
            match TenantId::parse(id) {
                Ok(t) => _ = tenants.insert(t, rules),
                Err(_) => e.push(FieldError::new(field, "a valid tenant id")),
            }
        }
        if !e.is_empty() {
            return Err(e);
        }
        Ok(ValidSettings {
            settings: self.clone(),
            allow,
            tenants,
        })
    }

    fn limits_check(&self, e: &mut Vec<FieldError>) {
        if self.allow_ports.is_empty() {
            e.push(FieldError::new("allow_ports", "at least one port"));
        }
        for (i, p) in self.allow_ports.iter().enumerate() {
            if *p == 0 {
                e.push(FieldError::new(
                    format!("allow_ports[{i}]"),
                    "a port from 1 to 65535",
                ));
            }
        }
        if self.max_redirects > 20 {
            e.push(FieldError::new("max_redirects", "at most 20"));
        }
        if self.max_body.as_u64() == 0 || self.max_body > ByteSize::gb(1) {
            e.push(FieldError::new("max_body", "from 1 byte to 1 GB"));
        }
        if !(16..=65536).contains(&self.max_url_len) {
            e.push(FieldError::new("max_url_len", "from 16 to 65536"));
        }
        let total = self.total_timeout;
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("first_byte_timeout", self.first_byte_timeout),
        ] {
            if d.is_zero() || d > total {
                e.push(FieldError::new(
                    name,
                    "above zero and at most total_timeout",
                ));
            }
        }
        if total.is_zero() || total > Duration::from_secs(600) {
            e.push(FieldError::new(
                "total_timeout",
                "above zero and at most 10m",
            ));
        }
        if self.user_agent.is_empty() || http::HeaderValue::from_str(&self.user_agent).is_err() {
            e.push(FieldError::new("user_agent", "a non-empty header value"));
        }
    }
}

fn allow_check(prefix: &str, list: &AllowList, e: &mut Vec<FieldError>) -> AllowRules {
    let mut rules = AllowRules::default();
    for (i, h) in list.hosts.iter().enumerate() {
        match Host::parse(h.trim_end_matches('.')) {
            Ok(Host::Domain(d)) if !d.is_empty() => _ = rules.hosts.insert(d),
            Ok(Host::Ipv4(_) | Host::Ipv6(_)) => e.push(FieldError::new(
                format!("{prefix}.hosts[{i}]"),
                "a domain name (addresses belong in cidrs)",
            )),
            _ => e.push(FieldError::new(
                format!("{prefix}.hosts[{i}]"),
                "a domain name",
            )),
        }
    }
    for (i, c) in list.cidrs.iter().enumerate() {
        match c.parse::<IpNet>() {
            Ok(n) => rules.cidrs.push(n.trunc()),
            Err(_) => e.push(FieldError::new(
                format!("{prefix}.cidrs[{i}]"),
                "a network in CIDR form, e.g. 10.0.0.0/8",
            )),
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let v = FetchSettings::default().validate().unwrap();
        assert_eq!(v.settings.allow_ports, vec![80, 443]);
        assert_eq!(v.settings.max_body, ByteSize::mb(5));
    }

    #[test]
    fn every_bad_key_is_named() {
        let mut s = FetchSettings {
            allow_ports: vec![443, 0],
            max_redirects: 50,
            max_url_len: 3,
            ..FetchSettings::default()
        };
        s.allow.cidrs = vec!["10.0.0.0/8".into(), "10.0.0.0/99".into()];
        s.allow.hosts = vec!["10.0.0.1".into(), "ok.internal".into(), "bad host".into()];
        s.tenants
            .insert("not a tenant!".into(), AllowList::default());
        let fields: Vec<String> = s
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(
            fields,
            [
                "allow_ports[1]",
                "max_redirects",
                "max_url_len",
                "allow.hosts[0]",
                "allow.hosts[2]",
                "allow.cidrs[1]",
                "tenants.not a tenant!",
            ]
        );
    }

    #[test]
    fn parses_from_toml_like_json() {
        let s: FetchSettings = serde_json::from_value(serde_json::json!({
            "max_body": "1MB", "total_timeout": "5s", "connect_timeout": "1s", "first_byte_timeout": "2s",
            "tenants": {"acme": {"cidrs": ["10.1.0.0/16"]}}
        }))
        .unwrap();
        let v = s.validate().unwrap();
        assert_eq!(v.tenants.len(), 1);
        assert_eq!(v.settings.max_body, ByteSize::mb(1));
    }
}
