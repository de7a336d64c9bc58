//! The simulator's seeded PRNG: xoshiro256** seeded through SplitMix64.
//!
//! Written here (about forty lines) instead of taken from `rand` on purpose: a simulation
//! trace must stay bit-for-bit identical for a given seed forever, so that a failing seed
//! found in CI replays the same run next year. `rand` does not promise stable streams
//! across versions (its `StdRng` algorithm may change), and a dependency bump must never
//! change which packets a test loses. Both algorithms are public-domain designs by
//! Blackman and Vigna; the known-answer tests below pin the output.
//!
//! Streams: [`Rng::stream`] derives independent generators from a seed and a path of
//! stream ids (e.g. link index, direction, purpose), so each link's loss pattern depends
//! only on the network seed and that link's own identity, never on what else exists.

/// One SplitMix64 step: advances `state` and returns the next output.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xoshiro256**: a small, fast, statistically strong generator (not cryptographic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is four SplitMix64 outputs of `seed` (never all zero).
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    /// An independent generator for the stream named by `path` under `seed`: each id is
    /// folded into the seed through SplitMix64, so distinct paths give unrelated streams.
    pub fn stream(seed: u64, path: &[u64]) -> Rng {
        let mut sm = seed;
        let mut key = splitmix64(&mut sm);
        for &id in path {
            let mut x = key ^ id.wrapping_mul(0xd1b5_4a32_d192_ed03);
            key = splitmix64(&mut x);
        }
        Rng::new(key)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)` (53 random bits).
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, n)`; 0 when `n` is 0. Unbiased (Lemire's method).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// True with probability `p` (clamped to `[0, 1]`); draws one number unless `p <= 0`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.hit(Threshold::new(p))
    }

    /// True with the probability that `t` was built from; draws nothing when it is 0.
    #[inline]
    pub fn hit(&mut self, t: Threshold) -> bool {
        match t.0 {
            0 => false,
            u64::MAX => true,
            x => self.next_u64() < x,
        }
    }
}

/// A probability turned into an integer threshold once, so that deciding costs one
/// random draw and a compare, and so that decisions do not depend on float rounding of
/// the draw. `0` means never (no draw), `u64::MAX` means always (no draw).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Threshold(u64);

impl Threshold {
    /// Never.
    pub const NEVER: Threshold = Threshold(0);

    /// The threshold for probability `p`; NaN and `p <= 0` give never, `p >= 1` always.
    pub fn new(p: f64) -> Threshold {
        if p.is_nan() || p <= 0.0 {
            Threshold(0)
        } else if p >= 1.0 {
            Threshold(u64::MAX)
        } else {
            // 2^64 * p, at least 1 so that a tiny positive probability is not "never".
            Threshold(((p * 18_446_744_073_709_551_616.0) as u64).max(1))
        }
    }

    /// True when this threshold never fires.
    pub fn is_never(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_known_answer() {
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut s), 7_960_286_522_194_355_700);
    }

    #[test]
    fn xoshiro_known_answer() {
        // Reference C implementation seeded with four SplitMix64 outputs of 1234567.
        let mut r = Rng::new(1_234_567);
        assert_eq!(r.next_u64(), 3_504_822_795_582_309_479);
        assert_eq!(r.next_u64(), 1_819_558_768_956_484_042);
        assert_eq!(r.next_u64(), 1_250_851_346_055_027_673);
    }

    #[test]
    fn streams_differ_and_repeat() {
        let a = Rng::stream(7, &[0, 1]).next_u64();
        assert_eq!(a, Rng::stream(7, &[0, 1]).next_u64());
        assert_ne!(a, Rng::stream(7, &[1, 0]).next_u64());
        assert_ne!(a, Rng::stream(7, &[0]).next_u64());
        assert_ne!(a, Rng::stream(8, &[0, 1]).next_u64());
    }

    #[test]
    fn below_and_f64_in_range() {
        let mut r = Rng::new(1);
        let mut hist = [0u32; 6];
        for _ in 0..60_000 {
            hist[r.below(6) as usize] += 1;
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert!(
            hist.iter().all(|&h| (9_000..11_000).contains(&h)),
            "{hist:?}"
        );
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn thresholds() {
        let mut r = Rng::new(3);
        assert!(!r.chance(0.0) && !r.chance(-1.0) && !r.chance(f64::NAN));
        assert!(r.chance(1.0) && r.chance(2.0));
        assert!(Threshold::new(1e-30) != Threshold::NEVER);
        let hits = (0..100_000).filter(|_| r.chance(0.25)).count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
        // Never/always thresholds draw nothing: the stream is untouched.
        let mut a = Rng::new(9);
        let b = a.clone();
        a.hit(Threshold::NEVER);
        a.hit(Threshold::new(1.0));
        assert_eq!(a, b);
    }
}
