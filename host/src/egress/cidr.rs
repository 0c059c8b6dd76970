//! Address blocks in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`), as a
//! NetworkPolicy's `ipBlock` writes them.

use std::net::IpAddr;

/// An address block: the addresses whose first `prefix` bits are those of
/// `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Reads `a.b.c.d/n` or `x::y/n`; a bare address is a block of one.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let base: IpAddr = address.trim().parse().map_err(|_| {
            format!("invalid CIDR address {text:?}: write it as 10.0.0.0/8 or 2001:db8::/32")
        })?;
        let bits = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= bits => n,
                _ => {
                    return Err(format!(
                        "invalid CIDR address {text:?}: the prefix length must be 0 to {bits}"
                    ));
                }
            },
        };
        Ok(Cidr { base, prefix })
    }

    /// Whether `ip` is in the block (an IPv4 address written as IPv6,
    /// `::ffff:a.b.c.d`, counts as the IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => same_prefix(
                u32::from(base).into(),
                u32::from(ip).into(),
                32,
                self.prefix,
            ),
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                same_prefix(base.into(), ip.into(), 128, self.prefix)
            }
            _ => false,
        }
    }

    /// Whether every address of `other` is in this block.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.base)
    }
}

/// Whether `a` and `b`, numbers of `bits` bits, agree in their first
/// `prefix` bits.
fn same_prefix(a: u128, b: u128, bits: u32, prefix: u8) -> bool {
    let prefix = u32::from(prefix);
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix;
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_hold_their_addresses() {
        let private = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(private.contains(ip("10.1.2.3")));
        assert!(!private.contains(ip("11.0.0.1")));
        assert!(private.contains(ip("::ffff:10.0.0.1")));
        let one = Cidr::parse("127.0.0.1/32").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
        let doc = Cidr::parse("2001:db8::/32").unwrap();
        assert!(doc.contains(ip("2001:db8:1::5")) && !doc.contains(ip("2001:db9::1")));
        assert_eq!(Cidr::parse("192.168.1.7").unwrap().prefix, 32);
    }

    #[test]
    fn a_block_covers_the_smaller_blocks_inside_it() {
        let big = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(big.covers(&Cidr::parse("10.9.0.0/16").unwrap()));
        assert!(!big.covers(&Cidr::parse("0.0.0.0/0").unwrap()));
        assert!(!big.covers(&Cidr::parse("192.168.0.0/16").unwrap()));
    }

    #[test]
    fn malformed_blocks_say_how_to_write_one() {
        for bad in ["10.0.0.0/33", "10.0.0/8", "::/129", "ten/8", "10.0.0.0/x"] {
            let e = Cidr::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
