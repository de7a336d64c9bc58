//! Interfaces, addresses and routing.
//!
//! Weak-host model (RFC 1122 §3.3.4.2, Linux's default): a packet for any of our
//! addresses is accepted on any interface, and ARP requests for any of our addresses
//! are answered on every interface (Linux `arp_ignore=0`).

use core::net::Ipv4Addr;

use crate::wire::ethernet::EthernetAddress;

/// An IPv4 address with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The address.
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// `addr/prefix_len` (a prefix above 32 is taken as 32).
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Ipv4Cidr {
        Ipv4Cidr {
            addr,
            prefix_len: prefix_len.min(32),
        }
    }

    /// The network mask.
    pub fn mask(&self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix_len))
        }
    }

    /// Whether `ip` is on this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask() == 0
    }
}

/// One Ethernet interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its MAC address.
    pub mac: EthernetAddress,
    /// Its IPv4 addresses (the first is the preferred source).
    pub addrs: Vec<Ipv4Cidr>,
    /// Default gateway reached through this interface, if any.
    pub gateway: Option<Ipv4Addr>,
}

impl Interface {
    /// An interface with one address and no gateway.
    pub fn new(mac: EthernetAddress, addr: Ipv4Cidr) -> Interface {
        Interface {
            mac,
            addrs: vec![addr],
            gateway: None,
        }
    }

    /// Adds a default gateway.
    pub fn with_gateway(mut self, gw: Ipv4Addr) -> Interface {
        self.gateway = Some(gw);
        self
    }

    /// Adds another address.
    pub fn with_addr(mut self, addr: Ipv4Cidr) -> Interface {
        self.addrs.push(addr);
        self
    }

    fn on_link(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        self.addrs.iter().find(|a| a.contains(dst)).map(|a| a.addr)
    }

    fn owns(&self, ip: Ipv4Addr) -> bool {
        self.addrs.iter().any(|a| a.addr == ip)
    }
}

/// Where a packet to some destination leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Interface index.
    pub iface: usize,
    /// Source address to use.
    pub src: Ipv4Addr,
    /// The address to resolve with ARP: the destination, or a gateway.
    pub next_hop: Ipv4Addr,
}

/// Routes `dst`, preferring the interface that owns `src` when one is given (so a
/// connection bound to an address leaves through that address's interface, which
/// MPTCP subflows rely on), else the first interface with `dst` on link, else the first
/// interface with a gateway.
pub fn route(ifaces: &[Interface], dst: Ipv4Addr, src: Option<Ipv4Addr>) -> Option<Route> {
    if let Some(src) = src {
        if let Some((i, iface)) = ifaces.iter().enumerate().find(|(_, f)| f.owns(src)) {
            if iface.on_link(dst).is_some() {
                return Some(Route {
                    iface: i,
                    src,
                    next_hop: dst,
                });
            }
            if let Some(gw) = iface.gateway {
                return Some(Route {
                    iface: i,
                    src,
                    next_hop: gw,
                });
            }
        }
    }
    for (i, iface) in ifaces.iter().enumerate() {
        if let Some(a) = iface.on_link(dst) {
            return Some(Route {
                iface: i,
                src: src.unwrap_or(a),
                next_hop: dst,
            });
        }
    }
    for (i, iface) in ifaces.iter().enumerate() {
        if let (Some(gw), Some(a)) = (iface.gateway, iface.addrs.first()) {
            return Some(Route {
                iface: i,
                src: src.unwrap_or(a.addr),
                next_hop: gw,
            });
        }
    }
    None
}

/// Routes `dst` out of interface `dev` when one is given (Linux `ip mptcp endpoint ...
/// dev D`: the subflow is bound to the device): the destination is taken as on-link
/// there unless the interface has a gateway for it, and `src` (or the interface's
/// first address) is the source. Without `dev` (or with an unknown one), [`route`].
pub fn route_dev(
    ifaces: &[Interface],
    dst: Ipv4Addr,
    src: Option<Ipv4Addr>,
    dev: Option<usize>,
) -> Option<Route> {
    let Some((i, iface)) = dev.and_then(|d| ifaces.get(d).map(|f| (d, f))) else {
        return route(ifaces, dst, src);
    };
    let src = src.or_else(|| iface.addrs.first().map(|a| a.addr))?;
    let next_hop = match (iface.on_link(dst), iface.gateway) {
        (None, Some(gw)) => gw,
        _ => dst,
    };
    Some(Route {
        iface: i,
        src,
        next_hop,
    })
}

/// Whether `ip` is one of our addresses (on any interface: weak host).
pub fn is_local(ifaces: &[Interface], ip: Ipv4Addr) -> bool {
    ifaces.iter().any(|f| f.owns(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_contains() {
        let c = Ipv4Cidr::new(ip("10.1.2.3"), 24);
        assert!(c.contains(ip("10.1.2.200")));
        assert!(!c.contains(ip("10.1.3.1")));
        assert!(Ipv4Cidr::new(ip("1.2.3.4"), 0).contains(ip("9.9.9.9")));
        assert!(!Ipv4Cidr::new(ip("1.2.3.4"), 32).contains(ip("1.2.3.5")));
    }

    #[test]
    fn routes_on_link_then_gateway_and_honours_source() {
        let m = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let ifs = vec![
            Interface::new(m, Ipv4Cidr::new(ip("10.0.0.1"), 24)).with_gateway(ip("10.0.0.254")),
            Interface::new(m, Ipv4Cidr::new(ip("10.0.1.1"), 24)).with_gateway(ip("10.0.1.254")),
        ];
        let r = route(&ifs, ip("10.0.1.9"), None).unwrap();
        assert_eq!(
            (r.iface, r.src, r.next_hop),
            (1, ip("10.0.1.1"), ip("10.0.1.9"))
        );
        let r = route(&ifs, ip("8.8.8.8"), None).unwrap();
        assert_eq!(
            (r.iface, r.src, r.next_hop),
            (0, ip("10.0.0.1"), ip("10.0.0.254"))
        );
        // Bound to the second interface's address: leave through it, via its gateway.
        let r = route(&ifs, ip("8.8.8.8"), Some(ip("10.0.1.1"))).unwrap();
        assert_eq!(
            (r.iface, r.src, r.next_hop),
            (1, ip("10.0.1.1"), ip("10.0.1.254"))
        );
        assert!(is_local(&ifs, ip("10.0.1.1")));
        assert!(!is_local(&ifs, ip("10.0.1.2")));
        let lone = vec![Interface::new(m, Ipv4Cidr::new(ip("10.0.0.1"), 24))];
        assert_eq!(route(&lone, ip("8.8.8.8"), None), None);
    }

    #[test]
    fn a_device_binds_the_route_on_link() {
        let m = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let ifs = vec![
            Interface::new(m, Ipv4Cidr::new(ip("10.0.1.2"), 24)),
            Interface::new(m, Ipv4Cidr::new(ip("10.0.2.2"), 24)),
        ];
        // Without a device, the peer's first-path address is routed out of path 1,
        // even from the second path's address (the main table).
        let r = route_dev(&ifs, ip("10.0.1.1"), Some(ip("10.0.2.2")), None).unwrap();
        assert_eq!((r.iface, r.src), (0, ip("10.0.2.2")));
        // Bound to device 1 (Linux `dev`): out of it, on-link.
        let r = route_dev(&ifs, ip("10.0.1.1"), Some(ip("10.0.2.2")), Some(1)).unwrap();
        assert_eq!(
            (r.iface, r.src, r.next_hop),
            (1, ip("10.0.2.2"), ip("10.0.1.1"))
        );
        // No source given: the device's address.
        let r = route_dev(&ifs, ip("10.0.1.1"), None, Some(1)).unwrap();
        assert_eq!(r.src, ip("10.0.2.2"));
        // An unknown device: the ordinary route.
        let r = route_dev(&ifs, ip("10.0.1.1"), None, Some(7)).unwrap();
        assert_eq!(r.iface, 0);
    }
}
