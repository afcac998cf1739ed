//! IP ranges: parsing with the rules profiles need, one canonical form, and the set
//! operations that allow-lists and NetworkPolicy `ipBlock`s are made of.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address range such as `10.20.0.0/16` or `2001:db8::/32`, host bits always zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// The address as a 128-bit number and the width of its family (32 or 128).
    fn bits(&self) -> (u128, u32) {
        match self.address {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        }
    }

    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (network, width) = self.bits();
        let (bits, ip_width) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        };
        width == ip_width && bits & !host_mask(width, self.prefix) == network
    }

    /// Whether the two ranges share any address (one then contains the other).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.address) || other.contains(self.address)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

fn host_mask(width: u32, prefix: u8) -> u128 {
    let host_bits = width - u32::from(prefix);
    if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    }
}

/// Parses `address/prefix`, refusing host bits outside the prefix (a likely typo).
pub fn parse_cidr(text: &str) -> Result<Cidr, String> {
    let (address, prefix) = text.split_once('/').ok_or("the `/prefix` is missing")?;
    let address: IpAddr = address
        .parse()
        .map_err(|_| format!("`{address}` is not an IP address"))?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("the prefix must be 0–{max}"))?;
    let cidr = Cidr { address, prefix };
    let (bits, width) = cidr.bits();
    let mask = host_mask(width, prefix);
    if prefix != 0 && bits & mask != 0 {
        let network = bits & !mask;
        let network = match address {
            IpAddr::V4(_) => Ipv4Addr::from(network as u32).to_string(),
            IpAddr::V6(_) => Ipv6Addr::from(network).to_string(),
        };
        return Err(format!(
            "address bits are set beyond the /{prefix} prefix (did you mean `{network}/{prefix}`?)"
        ));
    }
    Ok(cidr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_rules() {
        assert!(parse_cidr("10.20.0.0/16").is_ok());
        assert!(parse_cidr("198.51.100.7/32").is_ok());
        assert!(parse_cidr("2001:db8::/32").is_ok());
        assert_eq!(parse_cidr("0.0.0.0/0").map(|c| c.prefix), Ok(0));
        assert_eq!(parse_cidr("::/0").map(|c| c.prefix), Ok(0));
        let host_bits = parse_cidr("10.20.1.5/16").unwrap_err();
        assert!(
            host_bits.contains("did you mean `10.20.0.0/16`?"),
            "{host_bits}"
        );
        let v6 = parse_cidr("2001:db8::1/64").unwrap_err();
        assert!(v6.contains("`2001:db8::/64`"), "{v6}");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("2001:db8::/129").is_err());
        assert!(parse_cidr("10.0.0.0").is_err());
        assert!(parse_cidr("10.0.0/8").is_err());
    }

    #[test]
    fn containment() {
        let net = parse_cidr("10.20.0.0/16").unwrap();
        assert!(net.contains("10.20.255.1".parse().unwrap()));
        assert!(!net.contains("10.21.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        assert!(net.overlaps(&parse_cidr("10.20.4.0/24").unwrap()));
        assert!(!net.overlaps(&parse_cidr("10.30.4.0/24").unwrap()));
        assert!(
            parse_cidr("0.0.0.0/0")
                .unwrap()
                .contains("203.0.113.9".parse().unwrap())
        );
        assert_eq!(
            parse_cidr("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
    }
}
