//! ADD_ADDR (RFC 8684 §3.4.1 for v1, RFC 6824 §3.4.1 for v0).
//!
//! ```text
//! v1: kind | len | subtype<<4 | E | addr id | address (4/16) | [port (2)] | [HMAC (8)]
//! v0: kind | len | subtype<<4 | IPVer | addr id | address (4/16) | [port (2)]
//! ```
//! v1 lengths: IPv4 8/10 (echo, no HMAC; +port) or 16/18 (HMAC; +port), IPv6 20/22 or
//! 28/30. v0 lengths: IPv4 8/10, IPv6 20/22, and the IPVer nibble must agree.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{get_u8, put_u8, subtype, AddAddr, Version};
use crate::wire::{be, Error, Result};

/// E: this ADD_ADDR echoes one received from the peer (v1).
const ECHO: u8 = 0x01;

/// Reads the address (and port, if `rest` has room for it) of `rest` bytes at offset 4.
fn get_addr(opt: &[u8], rest: usize) -> Result<(IpAddr, Option<u16>)> {
    let (addr, has_port) = match rest {
        4 | 6 => {
            let o: [u8; 4] = opt
                .get(4..8)
                .and_then(|s| s.try_into().ok())
                .ok_or(Error::Malformed)?;
            (IpAddr::V4(Ipv4Addr::from(o)), rest == 6)
        }
        16 | 18 => {
            let o: [u8; 16] = opt
                .get(4..20)
                .and_then(|s| s.try_into().ok())
                .ok_or(Error::Malformed)?;
            (IpAddr::V6(Ipv6Addr::from(o)), rest == 18)
        }
        _ => return Err(Error::Malformed),
    };
    let alen = if addr.is_ipv4() { 4 } else { 16 };
    Ok((addr, has_port.then(|| be::u16(opt, 4 + alen))))
}

impl AddAddr {
    /// Parses a whole ADD_ADDR option (header already checked) as `version` lays it out.
    ///
    /// v1: RFC 8684 §3.4.1 — an echo carries no HMAC and any other ADD_ADDR carries one,
    /// so the E flag fixes whether the 8 HMAC bytes are expected (as Linux does); a length
    /// that does not fit is `Malformed`. v0: there is no echo nor HMAC, and the IPVer
    /// nibble (4 or 6) must match the length.
    pub(super) fn parse(opt: &[u8], version: Version) -> Result<AddAddr> {
        let low = get_u8(opt, 2) & 0x0f;
        let addr_id = get_u8(opt, 3);
        let body = opt.len().checked_sub(4).ok_or(Error::Malformed)?;
        match version {
            Version::V1 => {
                let echo = low & ECHO != 0;
                let rest = if echo {
                    body
                } else {
                    body.checked_sub(8).ok_or(Error::Malformed)?
                };
                let (addr, port) = get_addr(opt, rest)?;
                let hmac = (!echo).then(|| be::u64(opt, 4 + rest));
                Ok(AddAddr {
                    echo,
                    addr_id,
                    addr,
                    port,
                    hmac,
                })
            }
            Version::V0 => {
                let (addr, port) = get_addr(opt, body)?;
                let ipver = if addr.is_ipv4() { 4 } else { 6 };
                if low != ipver {
                    return Err(Error::Malformed);
                }
                Ok(AddAddr {
                    echo: false,
                    addr_id,
                    addr,
                    port,
                    hmac: None,
                })
            }
        }
    }

    /// Writes bytes 2.. of the option into `out` (exactly `buffer_len()` long, zeroed).
    ///
    /// v1 needs an HMAC exactly when it is not an echo (RFC 8684 §3.4.1); v0 has neither
    /// echo nor HMAC (RFC 6824 §3.4.1). Anything else is `Malformed`.
    pub(super) fn emit(&self, out: &mut [u8], version: Version) -> Result<()> {
        let low = match version {
            Version::V1 if self.echo != self.hmac.is_some() => u8::from(self.echo),
            Version::V0 if !self.echo && self.hmac.is_none() => {
                if self.addr.is_ipv4() {
                    4
                } else {
                    6
                }
            }
            _ => return Err(Error::Malformed),
        };
        put_u8(out, 2, subtype::ADD_ADDR << 4 | low);
        put_u8(out, 3, self.addr_id);
        let mut at = 4;
        match self.addr {
            IpAddr::V4(a) => {
                out.get_mut(4..8)
                    .ok_or(Error::NoSpace)?
                    .copy_from_slice(&a.octets());
                at += 4;
            }
            IpAddr::V6(a) => {
                out.get_mut(4..20)
                    .ok_or(Error::NoSpace)?
                    .copy_from_slice(&a.octets());
                at += 16;
            }
        }
        if let Some(port) = self.port {
            be::put_u16(out, at, port);
            at += 2;
        }
        if let Some(hmac) = self.hmac {
            be::put_u64(out, at, hmac);
        }
        Ok(())
    }
}
