//! The public-address check (`connhost_policy::address::is_public`) on
//! arbitrary IPv4 and IPv6 addresses.
//!
//! Input: 16 bytes (shorter inputs are zero-padded), read as an IPv6
//! address; its first 4 bytes are also read as an IPv4 address.

#![no_main]

use connhost_policy::address::is_public;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn v6(segments: [u16; 8]) -> bool {
    let [a, b, c, d, e, f, g, h] = segments;
    is_public(IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)))
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = [0u8; 16];
    let n = data.len().min(16);
    bytes[..n].copy_from_slice(&data[..n]);
    let ip6 = Ipv6Addr::from(bytes);
    let ip4 = Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
    let public4 = is_public(IpAddr::V4(ip4));
    let public6 = is_public(IpAddr::V6(ip6));

    // What std knows to be internal is never public.
    if ip4.is_private()
        || ip4.is_loopback()
        || ip4.is_link_local()
        || ip4.is_multicast()
        || ip4.is_broadcast()
        || ip4.is_unspecified()
        || ip4.is_documentation()
    {
        assert!(!public4, "{ip4} is public");
    }
    if ip6.is_loopback()
        || ip6.is_unspecified()
        || ip6.is_multicast()
        || ip6.is_unique_local()
        || ip6.is_unicast_link_local()
    {
        assert!(!public6, "{ip6} is public");
    }

    // Every IPv6 form that embeds an IPv4 address agrees with it.
    let [a, b, c, d] = ip4.octets();
    let hi = u16::from_be_bytes([a, b]);
    let lo = u16::from_be_bytes([c, d]);
    let s = ip6.segments();
    assert_eq!(
        is_public(IpAddr::V6(ip4.to_ipv6_mapped())),
        public4,
        "::ffff:{ip4}"
    );
    assert_eq!(
        v6([0x64, 0xff9b, 0, 0, 0, 0, hi, lo]),
        public4,
        "64:ff9b::{ip4}"
    );
    // 6to4, whatever follows the embedded address.
    assert_eq!(
        v6([0x2002, hi, lo, s[3], s[4], s[5], s[6], s[7]]),
        public4,
        "2002:{ip4}"
    );
    // IPv4-compatible (all but ::/127, which are :: and ::1).
    if u32::from(ip4) > 1 {
        assert_eq!(v6([0, 0, 0, 0, 0, 0, hi, lo]), public4, "::{ip4}");
    }
    if let Some(mapped) = ip6.to_ipv4_mapped() {
        assert_eq!(public6, is_public(IpAddr::V4(mapped)), "{ip6}");
    }
});
