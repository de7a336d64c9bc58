//! A fixed-capacity byte ring for a connection's send and receive data.
//!
//! The ring holds `len()` bytes of *data* starting at its read point, followed by
//! `window()` bytes of *free space*. Its storage is allocated once, when the connection is
//! created, and never grows.
//!
//! * Send side: the application enqueues at the end; byte 0 is `SND.UNA`. Segments are
//!   read at an offset from there ([`RingBuffer::slices_at`], [`RingBuffer::read_at`]),
//!   including retransmissions, and ACKed bytes are dropped with
//!   [`RingBuffer::discard`].
//! * Receive side: byte 0 of the free space is `RCV.NXT`. Out-of-order payload is written
//!   into the free space at its offset ([`RingBuffer::write_at`]) while the
//!   [`Assembler`](super::assembler::Assembler) tracks which ranges are present; bytes
//!   that become contiguous are made data with [`RingBuffer::commit`]. The application
//!   dequeues them.
//!
//! Views at the wrap point come as two slices; no method panics on any offset or length.

/// A byte ring of fixed capacity.
#[derive(Clone)]
pub struct RingBuffer {
    storage: Box<[u8]>,
    /// Index of the first data byte.
    read_at: usize,
    /// Number of data bytes.
    len: usize,
}

impl core::fmt::Debug for RingBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingBuffer")
            .field("capacity", &self.capacity())
            .field("read_at", &self.read_at)
            .field("len", &self.len)
            .finish()
    }
}

impl RingBuffer {
    /// A ring of `capacity` bytes, zero-filled. This is the only allocation.
    pub fn new(capacity: usize) -> Self {
        RingBuffer {
            storage: vec![0; capacity].into_boxed_slice(),
            read_at: 0,
            len: 0,
        }
    }

    /// Total size in bytes.
    pub fn capacity(&self) -> usize {
        self.storage.len()
    }

    /// Bytes of data held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no data is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether there is no free space.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Free space in bytes (on the receive side: the receive window).
    pub fn window(&self) -> usize {
        self.capacity() - self.len
    }

    /// Drops all data.
    pub fn clear(&mut self) {
        self.read_at = 0;
        self.len = 0;
    }

    /// Physical index of logical position `pos` (from the read point), `pos < capacity`.
    fn phys(&self, pos: usize) -> usize {
        let cap = self.capacity();
        let i = self.read_at + pos;
        if i >= cap {
            i - cap
        } else {
            i
        }
    }

    /// Two ranges of physical indices covering `len` bytes from logical position `pos`.
    /// The caller guarantees `pos + len <= capacity`.
    fn ranges(&self, pos: usize, len: usize) -> (core::ops::Range<usize>, core::ops::Range<usize>) {
        if len == 0 {
            return (0..0, 0..0);
        }
        let start = self.phys(pos);
        let first = len.min(self.capacity() - start);
        (start..start + first, 0..len - first)
    }

    /// Appends as much of `data` as fits; returns how many bytes were taken.
    pub fn enqueue_slice(&mut self, data: &[u8]) -> usize {
        let n = self.write_at(0, data);
        self.commit(n);
        n
    }

    /// Removes up to `buf.len()` bytes from the front into `buf`; returns the count.
    pub fn dequeue_slice(&mut self, buf: &mut [u8]) -> usize {
        let n = self.read_at(0, buf);
        self.discard(n);
        n
    }

    /// Copies data bytes from `offset` (from the front) into `buf`, without removing
    /// them; returns the count (less than `buf.len()` at the end of the data).
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> usize {
        let (a, b) = self.slices_at(offset, buf.len());
        let (dst_a, dst_b) = buf.split_at_mut(a.len());
        dst_a.copy_from_slice(a);
        if let Some(dst_b) = dst_b.get_mut(..b.len()) {
            dst_b.copy_from_slice(b);
        }
        a.len() + b.len()
    }

    /// Up to `len` data bytes from `offset`, as two slices (the second is non-empty only
    /// across the wrap point). Empty when `offset` is past the data.
    pub fn slices_at(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        let len = len.min(self.len.saturating_sub(offset));
        let (a, b) = self.ranges(offset.min(self.len), len);
        (
            self.storage.get(a).unwrap_or(&[]),
            self.storage.get(b).unwrap_or(&[]),
        )
    }

    /// All data, as two slices.
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        self.slices_at(0, self.len)
    }

    /// Writes `data` into the free space at `offset` bytes past the end of the data,
    /// clipped to the free space; returns how many bytes were written (0 when `offset`
    /// is at or past the end of the free space). The bytes are not data until
    /// [`commit`](Self::commit)ted.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        let free = self.window();
        if offset >= free {
            return 0;
        }
        let n = data.len().min(free - offset);
        let (a, b) = self.ranges(self.len + offset, n);
        let (src_a, src_b) = data.split_at(a.len());
        if let Some(dst) = self.storage.get_mut(a) {
            dst.copy_from_slice(src_a);
        }
        if let (Some(dst), Some(src)) = (self.storage.get_mut(b.clone()), src_b.get(..b.len())) {
            dst.copy_from_slice(src);
        }
        n
    }

    /// Free space, as two mutable slices from the end of the data, for zero-copy writes;
    /// follow with [`commit`](Self::commit).
    pub fn free_slices_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let (a, b) = self.ranges(self.len, self.window());
        let (head, tail) = self.storage.split_at_mut(a.start);
        let first = tail.get_mut(..a.len()).unwrap_or(&mut []);
        let second = head.get_mut(b).unwrap_or(&mut []);
        (first, second)
    }

    /// Turns up to `count` bytes of free space (written before) into data; returns how
    /// many.
    pub fn commit(&mut self, count: usize) -> usize {
        let n = count.min(self.window());
        self.len += n;
        n
    }

    /// Drops up to `count` bytes from the front (ACKed on the send side); returns how
    /// many.
    pub fn discard(&mut self, count: usize) -> usize {
        let n = count.min(self.len);
        if n == 0 {
            return 0;
        }
        self.read_at = (self.read_at + n) % self.capacity();
        self.len -= n;
        // The read point is not reset when the ring empties: out-of-order bytes may sit
        // in the free space at offsets from the end of the data, and must stay there.
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cat(v: (&[u8], &[u8])) -> Vec<u8> {
        let mut out = v.0.to_vec();
        out.extend_from_slice(v.1);
        out
    }

    #[test]
    fn enqueue_dequeue_basic() {
        let mut r = RingBuffer::new(8);
        assert!(r.is_empty());
        assert_eq!(r.enqueue_slice(b"hello"), 5);
        assert_eq!(r.len(), 5);
        assert_eq!(r.window(), 3);
        assert_eq!(r.enqueue_slice(b"world"), 3);
        assert!(r.is_full());
        let mut buf = [0u8; 4];
        assert_eq!(r.dequeue_slice(&mut buf), 4);
        assert_eq!(&buf, b"hell");
        assert_eq!(r.enqueue_slice(b"XYZ!"), 4);
        assert_eq!(cat(r.as_slices()), b"oworXYZ!");
    }

    #[test]
    fn wrap_gives_two_slices() {
        let mut r = RingBuffer::new(8);
        r.enqueue_slice(b"abcdef");
        r.discard(4);
        r.enqueue_slice(b"ghijkl");
        let (a, b) = r.as_slices();
        assert_eq!(a, b"efgh");
        assert_eq!(b, b"ijkl");
        let (a, b) = r.slices_at(3, 3);
        assert_eq!((a, b), (&b"h"[..], &b"ij"[..]));
        let (a, b) = r.slices_at(5, 100);
        assert_eq!((a, b), (&b"jkl"[..], &b""[..]));
        let mut buf = [0u8; 6];
        assert_eq!(r.read_at(1, &mut buf), 6);
        assert_eq!(&buf, b"fghijk");
        assert_eq!(r.read_at(7, &mut buf), 1);
        assert_eq!(buf[0], b'l');
        assert_eq!(r.read_at(8, &mut buf), 0);
        assert_eq!(r.read_at(usize::MAX, &mut buf), 0);
    }

    #[test]
    fn out_of_order_write_then_commit() {
        let mut r = RingBuffer::new(10);
        r.enqueue_slice(b"ab");
        // Bytes 4..6 past RCV.NXT arrive first.
        assert_eq!(r.write_at(4, b"ef"), 2);
        assert_eq!(r.len(), 2);
        // Then 0..4.
        assert_eq!(r.write_at(0, b"wxyz"), 4);
        assert_eq!(r.commit(6), 6);
        assert_eq!(cat(r.as_slices()), b"abwxyzef");
        // Writes are clipped to the free space.
        assert_eq!(r.write_at(1, b"12345"), 1);
        assert_eq!(r.write_at(2, b"1"), 0);
        assert_eq!(r.write_at(usize::MAX, b"1"), 0);
        assert_eq!(r.commit(100), 2);
        assert!(r.is_full());
    }

    #[test]
    fn out_of_order_write_across_wrap() {
        let mut r = RingBuffer::new(8);
        r.enqueue_slice(b"123456");
        r.discard(5);
        // Data "6" at physical 5; free space is physical 6,7,0..5.
        assert_eq!(r.write_at(1, b"BCDE"), 4);
        assert_eq!(r.write_at(0, b"A"), 1);
        r.commit(5);
        assert_eq!(cat(r.as_slices()), b"6ABCDE");
    }

    #[test]
    fn free_slices_for_zero_copy_writes() {
        let mut r = RingBuffer::new(8);
        r.enqueue_slice(b"abcdef");
        r.discard(4);
        {
            let (a, b) = r.free_slices_mut();
            assert_eq!(a.len() + b.len(), 6);
            assert_eq!(a.len(), 2);
            a.copy_from_slice(b"gh");
            b[..2].copy_from_slice(b"ij");
        }
        r.commit(4);
        assert_eq!(cat(r.as_slices()), b"efghij");
        r.clear();
        let (a, b) = r.free_slices_mut();
        assert_eq!((a.len(), b.len()), (8, 0));
    }

    #[test]
    fn discard_everything_resets_to_start() {
        let mut r = RingBuffer::new(4);
        r.enqueue_slice(b"abcd");
        assert_eq!(r.discard(10), 4);
        assert!(r.is_empty());
        assert_eq!(r.enqueue_slice(b"wxyz"), 4);
        assert_eq!(r.as_slices().0, b"wxyz");
        assert_eq!(r.discard(0), 0);
    }

    #[test]
    fn free_space_survives_dequeue_of_all_data() {
        // Regression: out-of-order bytes written past the data must stay put when the
        // application drains the in-order data.
        let mut r = RingBuffer::new(8);
        r.enqueue_slice(b"abc");
        r.write_at(2, b"XY");
        let mut buf = [0u8; 3];
        assert_eq!(r.dequeue_slice(&mut buf), 3);
        r.write_at(0, b"12");
        assert_eq!(r.commit(4), 4);
        assert_eq!(cat(r.as_slices()), b"12XY");
    }

    #[test]
    fn zero_capacity_never_panics() {
        let mut r = RingBuffer::new(0);
        assert_eq!(r.enqueue_slice(b"x"), 0);
        assert_eq!(r.dequeue_slice(&mut [0; 4]), 0);
        assert_eq!(r.write_at(0, b"x"), 0);
        assert_eq!(r.commit(1), 0);
        assert_eq!(r.discard(1), 0);
        assert_eq!(r.as_slices(), (&[][..], &[][..]));
        let (a, b) = r.free_slices_mut();
        assert!(a.is_empty() && b.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Enqueue(Vec<u8>),
        Dequeue(usize),
        Discard(usize),
        Read(usize, usize),
        WriteCommit(usize, Vec<u8>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Op::Enqueue),
            (0usize..40).prop_map(Op::Dequeue),
            (0usize..40).prop_map(Op::Discard),
            (0usize..40, 0usize..40).prop_map(|(o, l)| Op::Read(o, l)),
            (0usize..20, proptest::collection::vec(any::<u8>(), 0..20))
                .prop_map(|(o, d)| Op::WriteCommit(o, d)),
        ]
    }

    proptest! {
        /// The ring behaves like a bounded VecDeque model.
        #[test]
        fn matches_model(cap in 0usize..33, ops in proptest::collection::vec(op(), 0..60)) {
            let mut r = RingBuffer::new(cap);
            let mut model: std::collections::VecDeque<u8> = Default::default();
            for op in ops {
                match op {
                    Op::Enqueue(d) => {
                        let n = r.enqueue_slice(&d);
                        let want = d.len().min(cap - model.len());
                        prop_assert_eq!(n, want);
                        model.extend(&d[..n]);
                    }
                    Op::Dequeue(k) => {
                        let mut buf = vec![0; k];
                        let n = r.dequeue_slice(&mut buf);
                        let want: Vec<u8> = model.drain(..k.min(model.len())).collect();
                        prop_assert_eq!(&buf[..n], &want[..]);
                    }
                    Op::Discard(k) => {
                        let n = r.discard(k);
                        prop_assert_eq!(n, k.min(model.len()));
                        model.drain(..n);
                    }
                    Op::Read(o, l) => {
                        let got = cat(r.slices_at(o, l));
                        let want: Vec<u8> = model.iter().skip(o).take(l).copied().collect();
                        prop_assert_eq!(got, want);
                    }
                    Op::WriteCommit(o, d) => {
                        // Write the gap first with zeros, then the data, then commit both.
                        let free = cap - model.len();
                        let gap = vec![0u8; o];
                        let g = r.write_at(0, &gap);
                        let n = r.write_at(o, &d);
                        prop_assert_eq!(g, o.min(free));
                        prop_assert_eq!(n, if o >= free { 0 } else { d.len().min(free - o) });
                        let c = r.commit(g + n);
                        prop_assert_eq!(c, g + n);
                        model.extend(&gap[..g]);
                        model.extend(&d[..n]);
                    }
                }
                prop_assert_eq!(r.len(), model.len());
                prop_assert_eq!(r.window(), cap - model.len());
                let all: Vec<u8> = model.iter().copied().collect();
                prop_assert_eq!(cat(r.as_slices()), all);
            }
        }
    }
}
