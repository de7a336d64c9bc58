use super::*;
use proptest::prelude::*;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ (i >> 8) as u8).collect()
}

fn read_all(r: &mut Reassembly) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = r.pop() {
        out.extend_from_slice(&b);
    }
    out
}

#[test]
fn in_order_and_out_of_order() {
    let base = 1u64 << 35;
    let d = pattern(100);
    let mut r = Reassembly::new(DataSeq(base), 1000);
    assert_eq!(r.insert_slice(DataSeq(base + 50), &d[50..]), 50);
    assert_eq!(r.readable(), 0);
    assert_eq!(r.ooo_len(), 50);
    assert_eq!(r.ack(), DataSeq(base));
    assert_eq!(r.insert_slice(DataSeq(base + 20), &d[20..40]), 20);
    assert_eq!(
        r.insert_slice(DataSeq(base), &d[..30]),
        20,
        "only the new bytes"
    );
    assert_eq!(r.ack(), DataSeq(base + 40));
    assert_eq!(r.insert_slice(DataSeq(base + 35), &d[35..55]), 10);
    assert_eq!(r.ack(), DataSeq(base + 100));
    assert_eq!(r.ooo_len(), 0);
    assert_eq!(read_all(&mut r), d);
    let s = r.stats();
    assert!(s.duplicate_data >= 2);
    assert!(s.ofo_queue >= 2);
}

#[test]
fn duplicates_are_dropped() {
    let mut r = Reassembly::new(DataSeq(0), 100);
    assert_eq!(r.insert_slice(DataSeq(0), b"abc"), 3);
    assert_eq!(r.insert_slice(DataSeq(0), b"abc"), 0);
    assert_eq!(r.insert_slice(DataSeq(1), b"bc"), 0);
    assert_eq!(r.stats().duplicate_data, 2);
    let mut buf = [0u8; 10];
    assert_eq!(r.recv(&mut buf), 3);
    assert_eq!(&buf[..3], b"abc");
}

#[test]
fn bounded_by_the_receive_window() {
    let mut r = Reassembly::new(DataSeq(1000), 10);
    assert_eq!(r.window(), 10);
    // Out of order, partly beyond the edge at 1010.
    assert_eq!(r.insert_slice(DataSeq(1005), &[5; 10]), 5);
    assert_eq!(r.stats().rcv_pruned, 1);
    assert_eq!(r.insert_slice(DataSeq(1010), &[9; 3]), 0, "wholly beyond");
    assert_eq!(r.insert_slice(DataSeq(1000), &[1; 5]), 5);
    assert_eq!(r.readable(), 10);
    assert_eq!(r.window(), 0, "full: nothing more fits");
    assert_eq!(r.wnd_end(), DataSeq(1010));
    let mut buf = [0u8; 4];
    r.recv(&mut buf);
    assert_eq!(r.wnd_end(), DataSeq(1014), "reading opens the window");
    assert_eq!(r.window(), 4);
    assert_eq!(r.insert_slice(DataSeq(1010), &[2; 8]), 4);
}

#[test]
fn window_edge_never_moves_backwards() {
    let mut r = Reassembly::new(DataSeq(0), 64);
    let mut last = r.wnd_end();
    for k in 0..200u64 {
        r.insert_slice(DataSeq(k * 7 % 300), &[0; 9]);
        if k % 3 == 0 {
            let mut buf = [0u8; 5];
            r.recv(&mut buf);
        }
        assert!(r.wnd_end() >= last);
        assert!(r.readable() + r.ooo_len() <= 64);
        last = r.wnd_end();
    }
}

#[test]
fn data_fin_takes_one_dsn() {
    let mut r = Reassembly::new(DataSeq(500), 1000);
    r.insert_slice(DataSeq(510), &[1; 10]);
    assert!(r.set_data_fin(DataSeq(515)));
    assert_eq!(r.ooo_len(), 5, "data beyond the DATA_FIN dropped");
    assert!(!r.fin_received());
    assert_eq!(
        r.insert_slice(DataSeq(512), &[1; 20]),
        0,
        "nothing new before 515"
    );
    r.insert_slice(DataSeq(500), &[0; 10]);
    assert!(r.fin_received());
    assert_eq!(r.ack(), DataSeq(516), "DATA_ACK covers the DATA_FIN");
    assert_eq!(r.insert_slice(DataSeq(515), &[3; 3]), 0);
    assert!(r.stats().data_after_fin > 0);
    assert!(!r.is_finished());
    assert_eq!(read_all(&mut r).len(), 15);
    assert!(r.is_finished());
    // A second DATA_FIN elsewhere is ignored.
    assert!(!r.set_data_fin(DataSeq(600)));
    assert_eq!(r.stats().bad_data_fin, 1);
    assert!(!r.set_data_fin(DataSeq(515)), "repeat: not recorded again");
    assert_eq!(r.stats().bad_data_fin, 1, "a repeat is not an error");
}

#[test]
fn data_fin_behind_delivered_data_is_ignored() {
    let mut r = Reassembly::new(DataSeq(0), 100);
    r.insert_slice(DataSeq(0), &[0; 10]);
    assert!(!r.set_data_fin(DataSeq(5)));
    assert_eq!(r.data_fin(), None);
}

/// Cuts `0..len` into random contiguous pieces, adds random overlapping extra pieces,
/// and shuffles them.
fn pieces_strategy() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
    (1usize..3000).prop_flat_map(|len| {
        (
            Just(len),
            proptest::collection::vec(1usize..400, 1..60),
            proptest::collection::vec((0..len, 1usize..500), 0..30),
            any::<u64>(),
        )
            .prop_map(|(len, cuts, extra, seed)| {
                let mut pieces = Vec::new();
                let mut at = 0;
                let mut k = 0;
                while at < len {
                    let n = cuts[k % cuts.len()].min(len - at);
                    pieces.push((at, n));
                    at += n;
                    k += 1;
                }
                for (s, n) in extra {
                    pieces.push((s, n.min(len - s)));
                }
                // Fisher-Yates with a xorshift generator.
                let mut x = seed | 1;
                for i in (1..pieces.len()).rev() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    pieces.swap(i, (x % (i as u64 + 1)) as usize);
                }
                (len, pieces)
            })
    })
}

proptest! {
    /// Any interleaving and duplication of pieces yields exactly the original stream.
    #[test]
    fn any_order_yields_the_stream((len, pieces) in pieces_strategy(), base in any::<u64>(), reads in proptest::collection::vec(0usize..700, 1..20)) {
        let base = base >> 1;
        let data = pattern(len);
        let mut r = Reassembly::new(DataSeq(base), len);
        let mut out = Vec::new();
        let mut buf = vec![0u8; 700];
        for (k, (s, n)) in pieces.iter().enumerate() {
            r.insert(DataSeq(base + *s as u64), Bytes::copy_from_slice(&data[*s..s + n]));
            // The application reads at random moments.
            let want = reads[k % reads.len()];
            let got = r.recv(&mut buf[..want]);
            out.extend_from_slice(&buf[..got]);
        }
        out.extend(read_all(&mut r));
        prop_assert_eq!(r.ack(), DataSeq(base + len as u64));
        prop_assert_eq!(r.ooo_len(), 0);
        prop_assert_eq!(out, data);
    }

    /// With a small window, pieces beyond it are dropped; resending whatever was not
    /// acknowledged (as the peer does) still yields exactly the stream, and the buffer
    /// never holds more than its capacity.
    #[test]
    fn small_window_with_retransmissions((len, pieces) in pieces_strategy(), cap in 1usize..600, fin in any::<bool>()) {
        let data = pattern(len);
        let mut r = Reassembly::new(DataSeq(7), cap);
        if fin {
            r.set_data_fin(DataSeq(7 + len as u64));
        }
        let mut out = Vec::new();
        let mut rounds = 0;
        while r.rcv_nxt().0 < 7 + len as u64 {
            for (s, n) in &pieces {
                r.insert(DataSeq(7 + *s as u64), Bytes::copy_from_slice(&data[*s..s + n]));
                prop_assert!(r.readable() + r.ooo_len() <= cap);
                if let Some(b) = r.pop() {
                    out.extend_from_slice(&b);
                }
            }
            out.extend(read_all(&mut r));
            rounds += 1;
            prop_assert!(rounds < 10_000);
        }
        prop_assert_eq!(out, data);
        prop_assert_eq!(r.fin_received(), fin);
        prop_assert_eq!(r.ack().0, 7 + len as u64 + u64::from(fin));
    }
}
