//! What the simulator drives: the [`Host`] trait and typed host handles.

use core::any::Any;
use core::fmt;
use core::marker::PhantomData;

use crate::time::Instant;

/// A simulated machine: anything that consumes and produces raw Ethernet frames on
/// numbered interfaces and has at most one pending timer. This is the sans-IO contract
/// of the stack (inputs `handle_*`, outputs `poll_*`, time passed in), so a TCP or MPTCP
/// endpoint plugs in through a thin adapter.
///
/// How the [`Network`](super::Network) calls a host, all at virtual time `now`:
/// - when a frame arrives on interface `iface`: [`handle_frame`](Host::handle_frame),
/// - when the instant returned by [`poll_timeout`](Host::poll_timeout) is reached:
///   [`handle_timeout`](Host::handle_timeout),
/// - after each of those, and once when the host is added or borrowed mutably through
///   [`Network::host_mut`](super::Network::host_mut):
///   [`poll_transmit`](Host::poll_transmit) once, then `poll_timeout` once.
///
/// `poll_transmit` must emit everything that is ready: it is not called again until the
/// next input. A host that wants to send later (pacing, retransmission) returns that
/// instant from `poll_timeout`. Virtual time only jumps to the next frame delivery or host
/// timeout, so a host never sees a tick it did not ask for. A timeout at or before `now`
/// fires at `now`; a host must move or clear it in `handle_timeout` (the simulator panics
/// if one host fires 10 000 times at the same instant, which is a livelock).
pub trait Host: 'static {
    /// A frame (a full Ethernet frame, without FCS) arrived on interface `iface`.
    fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]);

    /// The deadline from [`poll_timeout`](Host::poll_timeout) was reached.
    fn handle_timeout(&mut self, now: Instant);

    /// Emit every frame that is ready, each as `emit(iface, frame)`. The frame is copied
    /// by `emit`, so the host may reuse its buffer at once.
    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(usize, &[u8]));

    /// The next instant at which the host wants [`handle_timeout`](Host::handle_timeout),
    /// or `None`.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// Object-safe downcasting for stored hosts; implemented for every [`Host`].
pub(crate) trait AnyHost: Host {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Host> AnyHost for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A typed handle to a host in a [`Network`](super::Network), returned by
/// [`add_host`](super::Network::add_host): `net.host(id)` gives back a `&T` with no
/// downcasting in the test.
pub struct HostId<T> {
    index: u32,
    _type: PhantomData<fn() -> T>,
}

impl<T> HostId<T> {
    pub(crate) fn new(index: u32) -> Self {
        HostId {
            index,
            _type: PhantomData,
        }
    }

    /// The host's position in the network (0 for the first host added).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

impl<T> Clone for HostId<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for HostId<T> {}

impl<T> PartialEq for HostId<T> {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
    }
}

impl<T> Eq for HostId<T> {}

impl<T> fmt::Debug for HostId<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostId({})", self.index)
    }
}
