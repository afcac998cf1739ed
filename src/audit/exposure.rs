//! How much of the internet an allow-list admits, by value: the number of public IPv4
//! addresses its ranges cover together (overlaps once, private and reserved space not
//! counted), and any public IPv6 range wider than a /32. `0.0.0.0/0` written as two halves,
//! or as 256 /8s, is the same exposure as itself.

use std::net::IpAddr;

/// The most public IPv4 addresses one allow-list may admit: a /8's worth, far above any
/// customer's offices or partners, far below a share of the internet.
pub const MAX_PUBLIC_IPV4: u64 = 1 << 24;
/// The widest public IPv6 range an allow-list may hold (a regional registry's allocation).
pub const MIN_PUBLIC_IPV6_PREFIX: u8 = 32;

/// Space that is not the internet (RFC 1918, shared, loopback, link-local, this network,
/// multicast, reserved).
const NOT_PUBLIC_V4: [(u32, u8); 8] = [
    (0x0A00_0000, 8),
    (0xAC10_0000, 12),
    (0xC0A8_0000, 16),
    (0x6440_0000, 10),
    (0x7F00_0000, 8),
    (0xA9FE_0000, 16),
    (0x0000_0000, 8),
    (0xE000_0000, 3),
];

/// What one allow-list admits.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    pub public_ipv4: u64,
    /// Public IPv6 ranges wider than `MIN_PUBLIC_IPV6_PREFIX`.
    pub wide_ipv6: Vec<String>,
    /// Entries that are not ranges at all (never admitted silently).
    pub unreadable: Vec<String>,
}

impl Exposure {
    pub fn within_policy(&self) -> bool {
        self.public_ipv4 <= MAX_PUBLIC_IPV4
            && self.wide_ipv6.is_empty()
            && self.unreadable.is_empty()
    }

    /// The evidence text: the values behind the verdict.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} public IPv4 addresses (at most {MAX_PUBLIC_IPV4})",
            self.public_ipv4
        );
        if !self.wide_ipv6.is_empty() {
            text.push_str(&format!(
                ", public IPv6 wider than /{MIN_PUBLIC_IPV6_PREFIX}: {}",
                self.wide_ipv6.join(", ")
            ));
        }
        if !self.unreadable.is_empty() {
            text.push_str(&format!(", not ranges: {}", self.unreadable.join(", ")));
        }
        text
    }
}

/// The exposure of `ranges` (CIDR text; `*` is every address, as Cloud Armor writes it).
pub fn of<'a>(ranges: impl IntoIterator<Item = &'a str>) -> Exposure {
    let mut exposure = Exposure::default();
    let mut intervals: Vec<(u64, u64)> = Vec::new();
    for range in ranges {
        let range = if range == "*" { "0.0.0.0/0" } else { range };
        match crate::cidr::parse_cidr(range) {
            Ok(cidr) => match cidr.address {
                IpAddr::V4(address) => {
                    let start = u64::from(u32::from(address));
                    intervals.push((start, start + (1u64 << (32 - u32::from(cidr.prefix)))));
                }
                IpAddr::V6(address) => {
                    let segments = address.segments();
                    let private = segments[0] & 0xfe00 == 0xfc00 || segments[0] & 0xffc0 == 0xfe80;
                    if !private && cidr.prefix < MIN_PUBLIC_IPV6_PREFIX {
                        exposure.wide_ipv6.push(range.to_string());
                    }
                }
            },
            Err(_) => exposure.unreadable.push(range.to_string()),
        }
    }
    exposure.public_ipv4 = covered(&intervals) - private_overlap(&intervals);
    exposure
}

/// Addresses covered by the union of `intervals` (`[start, end)`).
fn covered(intervals: &[(u64, u64)]) -> u64 {
    let mut sorted = intervals.to_vec();
    sorted.sort_unstable();
    let (mut total, mut reach) = (0, 0);
    for (start, end) in sorted {
        let start = start.max(reach);
        if end > start {
            total += end - start;
            reach = end;
        }
    }
    total
}

/// Of the union of `intervals`, the addresses in space that is not public.
fn private_overlap(intervals: &[(u64, u64)]) -> u64 {
    NOT_PUBLIC_V4
        .iter()
        .map(|(base, prefix)| {
            let (low, high) = (
                u64::from(*base),
                u64::from(*base) + (1u64 << (32 - u32::from(*prefix))),
            );
            let clipped: Vec<(u64, u64)> = intervals
                .iter()
                .map(|(s, e)| ((*s).max(low), (*e).min(high)))
                .filter(|(s, e)| e > s)
                .collect();
            covered(&clipped)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_of_the_internet_are_the_internet() {
        let whole = of(["0.0.0.0/0"]);
        let halves = of(["0.0.0.0/1", "128.0.0.0/1"]);
        assert_eq!(whole.public_ipv4, halves.public_ipv4);
        assert!(!halves.within_policy());
        assert_eq!(of(["*"]).public_ipv4, whole.public_ipv4);
        // Private space and overlaps count nothing twice, nothing private.
        assert_eq!(
            of(["10.0.0.0/8", "10.20.0.0/16", "192.168.0.0/16"]).public_ipv4,
            0
        );
        assert_eq!(
            of(["203.0.113.0/24", "203.0.113.0/25", "198.51.100.7/32"]).public_ipv4,
            257
        );
        assert!(of(["11.0.0.0/8"]).within_policy());
        assert!(!of(["11.0.0.0/8", "12.0.0.0/8"]).within_policy());
        assert!(!of(["2000::/3"]).within_policy());
        assert!(of(["fd20:8b1e:b255::/48", "2001:db8::/48"]).within_policy());
        assert!(!of(["not-a-range"]).within_policy());
    }
}
