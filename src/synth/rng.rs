//! Hashing and the PRNG: every generated value is a pure function of the seed and some indices.
//!
//! Fixed things (accounts, VPCs, ENIs, peers, flow log ids, file names) get their attributes from
//! [`key`], a hash of their indices under a domain tag of their own (`TAG_*`). The records of one file
//! come from one [`Rng`] seeded the same way. Integer-only, so files are identical on every platform.

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

// Hash domain tags (keep attributes of different kinds independent). One list, so no two kinds share
// a tag.
pub(super) const TAG_ACCOUNT: u64 = 1;
pub(super) const TAG_REGION: u64 = 2;
pub(super) const TAG_FLOW_LOG: u64 = 3;
pub(super) const TAG_FILE: u64 = 4;
pub(super) const TAG_NAME: u64 = 5;
pub(super) const TAG_VPC: u64 = 6;
pub(super) const TAG_SUBNET: u64 = 7;
pub(super) const TAG_ENI: u64 = 8;
pub(super) const TAG_INSTANCE: u64 = 9;
pub(super) const TAG_PEER: u64 = 10;
pub(super) const TAG_OBJECT: u64 = 11;
pub(super) const TAG_TASK: u64 = 12;

/// SplitMix64 finaliser: a bijective 64-bit mixer.
pub(super) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Bijective 32-bit mixer (Wellons' lowbias32).
pub(super) fn permute32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// Hash of a tuple of integers (order-sensitive).
pub(super) fn key(parts: &[u64]) -> u64 {
    parts.iter().fold(0x6a09_e667_f3bc_c909, |h, &p| {
        mix64(h ^ mix64(p.wrapping_add(GOLDEN)))
    })
}

/// Picks from a weighted table using the value `r`.
pub(super) fn weighted<T: Copy>(table: &[(T, u32)], r: u64) -> T {
    let total: u64 = table.iter().map(|&(_, w)| u64::from(w)).sum();
    let mut x = r % total.max(1);
    for &(v, w) in table {
        if x < u64::from(w) {
            return v;
        }
        x -= u64::from(w);
    }
    table[0].0
}

/// SplitMix64 generator.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in `0..n` (0 if `n` is 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `per_mille / 1000`.
    pub(super) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// In `0..n`, skewed towards small values (`n·u²`): a few busy items, a long quiet tail.
    pub(super) fn skewed(&mut self, n: u64) -> u64 {
        let u = self.next_u64() >> 32;
        let u2 = (u * u) >> 32;
        ((u128::from(u2) * u128::from(n)) >> 32) as u64
    }

    pub(super) fn pick<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let r = self.next_u64();
        weighted(table, r)
    }

    /// Heavy-tailed (Pareto, α = 1) count ≥ 1, capped at `max`. Integer-only so files are identical
    /// on every platform.
    pub(super) fn pareto(&mut self, max: u64) -> u64 {
        let scale = 1 + self.below(8);
        let r = (self.next_u64() >> 32) + 1;
        ((scale << 32) / r).min(max)
    }
}
