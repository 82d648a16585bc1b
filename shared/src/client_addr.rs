//! Whose request is it: the client address every role puts in logs, traces and audit records
//! (and that login limits and address allow-lists will use). Forwarded headers are believed only
//! from configured proxies (`SHELLGATE_TRUSTED_PROXIES`, CIDRs; none by default): behind them the
//! client is the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries to
//! its left were written by the client and prove nothing).

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// The proxies whose forwarded headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// The client address of a request, as resolved at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR block")]
pub struct BadNet(String);

impl FromStr for TrustedProxies {
    type Err = BadNet;

    /// A comma- or space-separated list of addresses and CIDR blocks (`10.0.0.0/8, ::1`).
    fn from_str(s: &str) -> Result<Self, BadNet> {
        s.split([',', ' '])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(parse_net)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the `X-Forwarded-For` values in order: `peer` itself
    /// unless it is a trusted proxy; then the right-most forwarded address that is not a trusted
    /// proxy (an unreadable entry ends the search there: what lies left of it is unverifiable).
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops = forwarded_for.iter().flat_map(|v| v.split(',')).map(str::trim);
        for hop in hops.collect::<Vec<_>>().into_iter().rev() {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(hop) {
        return Some(canonical(ip));
    }
    std::net::SocketAddr::from_str(hop).ok().map(|s| canonical(s.ip()))
}

/// An address or CIDR block (`10.0.0.0/8`, `2001:db8::1`); host bits are cleared.
fn parse_net(p: &str) -> Result<IpNet, BadNet> {
    IpNet::from_str(p)
        .or_else(|_| IpAddr::from_str(p).map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| BadNet(p.chars().take(64).collect()))
}

/// Where a token's requests may come from (its `allowedCidrs`); empty: anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedAddresses(Vec<IpNet>);

impl AllowedAddresses {
    pub fn parse(list: &[String]) -> Result<Self, BadNet> {
        list.iter()
            .map(|p| parse_net(p.trim()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether a request from `client` may use the token (an unknown client only when the
    /// list is empty).
    pub fn allows(&self, client: Option<IpAddr>) -> bool {
        self.0.is_empty() || client.is_some_and(|ip| self.0.iter().any(|n| n.contains(&canonical(ip))))
    }

    /// The blocks as stored and shown (`10.0.0.0/8`).
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allow_lists_hold_blocks_and_addresses() {
        let a = AllowedAddresses::parse(&["10.1.2.3/8".into(), " 2001:db8::1 ".into()]).unwrap();
        assert_eq!(a.to_strings(), ["10.0.0.0/8", "2001:db8::1/128"]);
        assert!(a.allows(Some(ip("10.9.9.9"))));
        assert!(a.allows(Some(ip("::ffff:10.0.0.1"))));
        assert!(a.allows(Some(ip("2001:db8::1"))));
        assert!(!a.allows(Some(ip("11.0.0.1"))));
        assert!(!a.allows(None));
        assert!(AllowedAddresses::default().allows(None));
        assert!(AllowedAddresses::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(AllowedAddresses::parse(&["example.com".into()]).is_err());
    }

    #[test]
    fn parses_lists_of_addresses_and_blocks() {
        let t: TrustedProxies = "10.0.0.0/8, 192.168.1.1 ::1,fd00::/8".parse().unwrap();
        assert!(t.trusts(ip("10.2.3.4")));
        assert!(t.trusts(ip("192.168.1.1")));
        assert!(!t.trusts(ip("192.168.1.2")));
        assert!(t.trusts(ip("::1")));
        assert!(t.trusts(ip("::ffff:10.0.0.1")));
        assert_eq!("".parse::<TrustedProxies>().unwrap(), TrustedProxies::default());
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn forwarded_headers_count_only_behind_trusted_proxies() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("127.0.0.1"), &["6.6.6.6"]), ip("127.0.0.1"));
        let t: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        // Not from a proxy: the header is the client's own claim.
        assert_eq!(t.client(ip("203.0.113.9"), &["6.6.6.6"]), ip("203.0.113.9"));
        // Through two proxies: the right-most untrusted entry; the spoofed left one is ignored.
        assert_eq!(
            t.client(ip("10.0.0.2"), &["6.6.6.6, 198.51.100.7, 10.0.0.1"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            t.client(ip("10.0.0.2"), &["6.6.6.6", "198.51.100.7:4433"]),
            ip("198.51.100.7")
        );
        assert_eq!(t.client(ip("10.0.0.2"), &["[2001:db8::7]:443"]), ip("2001:db8::7"));
        // Only proxies: the left-most of them.
        assert_eq!(t.client(ip("10.0.0.2"), &["10.0.0.9, 10.0.0.1"]), ip("10.0.0.9"));
        // Garbage stops the walk at the last address that could be checked.
        assert_eq!(
            t.client(ip("10.0.0.2"), &["6.6.6.6, garbage, 10.0.0.1"]),
            ip("10.0.0.1")
        );
        assert_eq!(t.client(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
    }
}
