//! The deny list: which address ranges an outbound request may never reach, each with a rule name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address (or a URL) is refused: a static, bounded name, safe for metrics and responses.
///
/// The name says which rule matched, never the address itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule(&'static str);

impl Rule {
    /// `0.0.0.0/8`, `::/128`: "this network" / unspecified.
    pub const UNSPECIFIED: Rule = Rule("unspecified");
    /// `127.0.0.0/8`, `::1`.
    pub const LOOPBACK: Rule = Rule("loopback");
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    pub const PRIVATE: Rule = Rule("private");
    /// `169.254/16` (cloud metadata at `169.254.169.254`), `fe80::/10`.
    pub const LINK_LOCAL: Rule = Rule("link-local");
    /// Carrier-grade NAT, `100.64/10`.
    pub const CGNAT: Rule = Rule("cgnat");
    /// IETF protocol assignments: `192.0.0/24`, `2001::/23` outside its named parts.
    pub const IETF_PROTOCOL: Rule = Rule("ietf-protocol");
    /// Documentation: `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    pub const DOCUMENTATION: Rule = Rule("documentation");
    /// Benchmarking: `198.18/15`, `2001:2::/48`.
    pub const BENCHMARKING: Rule = Rule("benchmarking");
    /// Multicast: `224/4`, `ff00::/8`.
    pub const MULTICAST: Rule = Rule("multicast");
    /// Limited broadcast, `255.255.255.255`.
    pub const BROADCAST: Rule = Rule("broadcast");
    /// Reserved: `240/4`, the 6to4 relay anycast `192.88.99/24`, IPv6 outside `2000::/3`.
    pub const RESERVED: Rule = Rule("reserved");
    /// IPv4-mapped IPv6, `::ffff:0:0/96`, and IPv4-translated `::ffff:0:0:0/96`.
    pub const IPV4_MAPPED: Rule = Rule("ipv4-mapped");
    /// IPv4-compatible IPv6, `::/96` (deprecated).
    pub const IPV4_COMPATIBLE: Rule = Rule("ipv4-compatible");
    /// NAT64: `64:ff9b::/96`, `64:ff9b:1::/48`.
    pub const NAT64: Rule = Rule("nat64");
    /// 6to4, `2002::/16` (embeds an IPv4 address).
    pub const SIX_TO_FOUR: Rule = Rule("6to4");
    /// Teredo, `2001::/32` (embeds an obfuscated IPv4 address).
    pub const TEREDO: Rule = Rule("teredo");
    /// Unique local, `fc00::/7`.
    pub const UNIQUE_LOCAL: Rule = Rule("unique-local");
    /// Site-local (deprecated), `fec0::/10`.
    pub const SITE_LOCAL: Rule = Rule("site-local");
    /// An IPv6 zone id (`fe80::1%eth0`) in a URL or an answer.
    pub const ZONE_ID: Rule = Rule("ipv6-zone-id");
    /// One of this host's own interface addresses.
    pub const HOST_ADDRESS: Rule = Rule("host-address");
    /// A port outside the configured allowlist.
    pub const PORT: Rule = Rule("port-not-allowed");

    /// The rule's stable name (kebab-case).
    pub fn name(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The deny rule an address falls under, if any (the operator's allowlist is applied elsewhere).
pub fn denied(ip: IpAddr) -> Option<Rule> {
    match ip {
        IpAddr::V4(v4) => denied_v4(v4),
        IpAddr::V6(v6) => denied_v6(v6),
    }
}

/// IPv4 ranges in the order of their specificity.
const V4: &[(u32, u8, Rule)] = &[
    (0x0000_0000, 8, Rule::UNSPECIFIED),
    (0x0a00_0000, 8, Rule::PRIVATE),
    (0x6440_0000, 10, Rule::CGNAT),
    (0x7f00_0000, 8, Rule::LOOPBACK),
    (0xa9fe_0000, 16, Rule::LINK_LOCAL),
    (0xac10_0000, 12, Rule::PRIVATE),
    (0xc000_0000, 24, Rule::IETF_PROTOCOL),
    (0xc000_0200, 24, Rule::DOCUMENTATION),
    (0xc058_6300, 24, Rule::RESERVED),
    (0xc0a8_0000, 16, Rule::PRIVATE),
    (0xc612_0000, 15, Rule::BENCHMARKING),
    (0xc633_6400, 24, Rule::DOCUMENTATION),
    (0xcb00_7100, 24, Rule::DOCUMENTATION),
    (0xe000_0000, 4, Rule::MULTICAST),
    (0xffff_ffff, 32, Rule::BROADCAST),
    (0xf000_0000, 4, Rule::RESERVED),
];

fn denied_v4(ip: Ipv4Addr) -> Option<Rule> {
    let a = u32::from(ip);
    V4.iter()
        .find(|(net, len, _)| a >> (32 - len) == net >> (32 - len))
        .map(|(_, _, r)| *r)
}

/// IPv6 ranges, most specific first (a later, wider range never shadows an earlier one).
const V6: &[(u128, u8, Rule)] = &[
    (0, 128, Rule::UNSPECIFIED),
    (1, 128, Rule::LOOPBACK),
    (0xffff_0000_0000, 96, Rule::IPV4_MAPPED),
    (0xffff_0000_0000_0000, 96, Rule::IPV4_MAPPED),
    (0, 96, Rule::IPV4_COMPATIBLE),
    (0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96, Rule::NAT64),
    (0x0064_ff9b_0001_0000_0000_0000_0000_0000, 48, Rule::NAT64),
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 32, Rule::TEREDO),
    (
        0x2001_0002_0000_0000_0000_0000_0000_0000,
        48,
        Rule::BENCHMARKING,
    ),
    (
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        Rule::DOCUMENTATION,
    ),
    (
        0x2001_0000_0000_0000_0000_0000_0000_0000,
        23,
        Rule::IETF_PROTOCOL,
    ),
    (
        0x2002_0000_0000_0000_0000_0000_0000_0000,
        16,
        Rule::SIX_TO_FOUR,
    ),
    (
        0x3fff_0000_0000_0000_0000_0000_0000_0000,
        20,
        Rule::DOCUMENTATION,
    ),
    (
        0xfc00_0000_0000_0000_0000_0000_0000_0000,
        7,
        Rule::UNIQUE_LOCAL,
    ),
    (
        0xfe80_0000_0000_0000_0000_0000_0000_0000,
        10,
        Rule::LINK_LOCAL,
    ),
    (
        0xfec0_0000_0000_0000_0000_0000_0000_0000,
        10,
        Rule::SITE_LOCAL,
    ),
    (
        0xff00_0000_0000_0000_0000_0000_0000_0000,
        8,
        Rule::MULTICAST,
    ),
];

fn denied_v6(ip: Ipv6Addr) -> Option<Rule> {
    let a = u128::from(ip);
    let hit = V6
        .iter()
        .find(|(net, len, _)| a >> (128 - len) == net >> (128 - len));
    match hit {
        Some((_, _, r)) => Some(*r),
        // Only 2000::/3 is global unicast; everything else is reserved or special.
        None if a >> 125 != 1 => Some(Rule::RESERVED),
        None => None,
    }
}

/// The IPv4 address an IPv6 address carries (mapped, compatible, NAT64 /96, 6to4, Teredo).
///
/// Used to check the embedded address too when the operator allowlists the IPv6 form.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let a = u128::from(ip);
    let low = Ipv4Addr::from(a as u32);
    match denied_v6(ip)? {
        r if r == Rule::IPV4_MAPPED || r == Rule::IPV4_COMPATIBLE => Some(low),
        r if r == Rule::NAT64 && a >> 32 == 0x0064_ff9b_0000_0000_0000_0000 => Some(low),
        r if r == Rule::SIX_TO_FOUR => Some(Ipv4Addr::from((a >> 80) as u32)),
        r if r == Rule::TEREDO => Some(Ipv4Addr::from(!(a as u32))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        denied(s.parse().unwrap()).map(Rule::name)
    }

    #[test]
    fn v4_ranges() {
        assert_eq!(rule("127.0.0.1"), Some("loopback"));
        assert_eq!(rule("169.254.169.254"), Some("link-local"));
        assert_eq!(rule("172.31.255.255"), Some("private"));
        assert_eq!(rule("172.32.0.1"), None);
        assert_eq!(rule("100.127.0.1"), Some("cgnat"));
        assert_eq!(rule("100.128.0.1"), None);
        assert_eq!(rule("255.255.255.255"), Some("broadcast"));
        assert_eq!(rule("250.0.0.1"), Some("reserved"));
        assert_eq!(rule("198.19.0.1"), Some("benchmarking"));
        assert_eq!(rule("93.184.216.34"), None);
    }

    #[test]
    fn v6_ranges() {
        assert_eq!(rule("::"), Some("unspecified"));
        assert_eq!(rule("::1"), Some("loopback"));
        assert_eq!(rule("::ffff:127.0.0.1"), Some("ipv4-mapped"));
        assert_eq!(rule("::127.0.0.1"), Some("ipv4-compatible"));
        assert_eq!(rule("2001:db8::1"), Some("documentation"));
        assert_eq!(rule("2001:4860:4860::8888"), None);
        assert_eq!(rule("4000::1"), Some("reserved"));
        assert_eq!(rule("2001:1::1"), Some("ietf-protocol"));
    }

    #[test]
    fn embedded_addresses() {
        let v4 = |s: &str| embedded_v4(s.parse().unwrap());
        assert_eq!(v4("::ffff:10.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(v4("64:ff9b::a00:1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(v4("2002:7f00:1::"), Some(Ipv4Addr::new(127, 0, 0, 1)));
        // Teredo: client address is the last 32 bits, inverted.
        assert_eq!(
            v4("2001:0:4136:e378:8000:63bf:3fff:fdd2"),
            Some(Ipv4Addr::new(192, 0, 2, 45))
        );
        assert_eq!(v4("2606:4700::1"), None);
    }
}
