//! Frame hosts the worker runs: [`Node`] (a host stack plus the app engine) and
//! [`Pair`] (two frame hosts on one worker, for the embedded demo).

use dataplane::nic::FrameHost;
use dataplane::time::Instant;

use crate::app::AppEngine;
use crate::apphost::AppHost;

/// A host stack with the app engine on top: the engine runs before every transmit, so
/// what it queues leaves in the same poll-loop iteration.
#[derive(Debug)]
pub struct Node<H: AppHost> {
    /// How the console names this host ("mpdk", or "client"/"server" in the demo).
    pub name: &'static str,
    pub host: H,
    pub app: AppEngine<H::Conn>,
}

impl<H: AppHost> Node<H> {
    pub fn new(name: &'static str, host: H, app: AppEngine<H::Conn>) -> Self {
        Node { name, host, app }
    }
}

impl<H: AppHost> FrameHost for Node<H> {
    fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]) {
        self.host.handle_frame(now, iface, frame);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.host.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        self.app.drive(now, &mut self.host);
        self.host.poll_transmit(now, emit);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.host.poll_timeout(), self.app.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Two frame hosts on one worker: interfaces `0..split` are `a`'s, the rest `b`'s
/// (renumbered from 0).
#[derive(Debug)]
pub struct Pair<A, B> {
    pub a: A,
    pub b: B,
    split: usize,
}

impl<A: FrameHost, B: FrameHost> Pair<A, B> {
    /// `a` owns the worker's first `split` ports.
    pub fn new(a: A, b: B, split: usize) -> Self {
        Pair { a, b, split }
    }
}

impl<A: FrameHost, B: FrameHost> FrameHost for Pair<A, B> {
    fn handle_frame(&mut self, now: Instant, iface: usize, frame: &[u8]) {
        if iface < self.split {
            self.a.handle_frame(now, iface, frame);
        } else {
            self.b.handle_frame(now, iface - self.split, frame);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.a.poll_timeout().is_some_and(|t| t <= now) {
            self.a.handle_timeout(now);
        }
        if self.b.poll_timeout().is_some_and(|t| t <= now) {
            self.b.handle_timeout(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(usize, &[u8])) {
        self.a.poll_transmit(now, emit);
        let split = self.split;
        self.b
            .poll_transmit(now, &mut |iface, frame| emit(iface + split, frame));
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.a.poll_timeout(), self.b.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
