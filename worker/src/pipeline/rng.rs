//! Seeded random streams. One trial seed fixes everything random in a trial;
//! each use (split, head init, shuffling, augmentation) draws from its own
//! stream so that changing one never shifts another.

use rand::rngs::StdRng;
use rand::SeedableRng;

/// What a random stream is for; each gets an independent sequence.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Split = 1,
    HeadInit = 2,
    Shuffle = 3,
    Augment = 4,
}

/// A generator for `purpose`, fully determined by `seed`.
pub fn stream(seed: u64, purpose: Stream) -> StdRng {
    // splitmix64 of (seed, purpose): well-spread 64-bit seeds for StdRng.
    let mut z = seed ^ (purpose as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}
