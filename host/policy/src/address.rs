//! Which IP addresses outbound requests may reach: public unicast only.
//! Loopback, private, link-local, shared (CGNAT), multicast, unspecified,
//! documentation and reserved ranges are refused, in IPv4, IPv6 and the
//! IPv6 forms that embed an IPv4 address (mapped, compatible, 6to4,
//! NAT64), so a connection cannot be pointed at the host's own network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let blocked = a == 0                                  // "this network"
        || a == 10                                        // private
        || a == 127                                       // loopback
        || (a == 100 && (64..128).contains(&b))           // shared (CGNAT)
        || (a == 169 && b == 254)                         // link-local
        || (a == 172 && (16..32).contains(&b))            // private
        || (a == 192 && b == 0 && c == 0)                 // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                 // documentation
        || (a == 192 && b == 168)                         // private
        || (a == 198 && (18..20).contains(&b))            // benchmarking
        || (a == 198 && b == 51 && c == 100)              // documentation
        || (a == 203 && b == 0 && c == 113)               // documentation
        || a >= 224; // multicast, reserved, broadcast
    !blocked
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let blocked = ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xff00) == 0xff00        // multicast
        || (s[0] & 0xffc0) == 0xfe80        // link-local
        || (s[0] & 0xffc0) == 0xfec0        // site-local (deprecated)
        || (s[0] & 0xfe00) == 0xfc00        // unique local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]); // discard-only
    !blocked
}

/// The IPv4 address inside a mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::`)
/// address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || (s[5] == 0 && (s[6] != 0 || s[7] > 1))) {
        return Some(tail());
    }
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    /// Each blocked range's edges and each of its terms alone: a rule
    /// that checks too little or too much shows here (found by
    /// `scripts/mutants.sh policy`).
    #[test]
    fn the_edges_of_every_range_and_near_misses() {
        for ip in [
            "192.0.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "100.127.255.255",
            "fec0::1",
            "100::1",
            "::2",
            "::ffff:198.51.100.1",
            "2002:c633:6401::",
        ] {
            assert!(!public(ip), "{ip} is not public");
        }
        for ip in [
            "223.255.255.254",
            "100.63.0.1",
            "1.64.0.1",
            "169.1.0.1",
            "1.254.0.1",
            "172.15.0.1",
            "1.16.0.1",
            "1.0.0.1",
            "192.1.0.1",
            "192.0.1.1",
            "192.0.3.1",
            "1.0.2.1",
            "192.1.2.1",
            "192.169.0.1",
            "1.168.0.1",
            "198.17.0.1",
            "198.20.0.1",
            "1.18.0.1",
            "198.51.101.1",
            "198.52.100.1",
            "1.51.100.1",
            "203.0.114.1",
            "203.1.113.1",
            "1.0.113.1",
            "2001:4860:4860::8888",
            "2606::1",
            "100:0:0:1::1",
            "2606::a00:1",
            "64:1::1",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }

    #[test]
    fn rejects_internal_ipv4() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(!public(ip), "{ip}");
        }
    }

    #[test]
    fn accepts_public_ipv4() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "93.184.216.34",
        ] {
            assert!(public(ip), "{ip}");
        }
    }

    #[test]
    fn rejects_internal_ipv6_and_embedded_ipv4() {
        for ip in [
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::",
        ] {
            assert!(!public(ip), "{ip}");
        }
    }

    #[test]
    fn accepts_public_ipv6() {
        for ip in ["2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"] {
            assert!(public(ip), "{ip}");
        }
    }
}
