//! Counter-based random numbers: every draw of a training run is derived from the seed and
//! *where* it happens (epoch, batch, record), never from a generator carried along. A resumed
//! run therefore needs no generator state to continue with exactly the same draws.

/// Labels of the independent random streams of a run.
pub(crate) mod stream {
    pub(crate) const SPLIT: u64 = 1;
    pub(crate) const EPOCH_ORDER: u64 = 2;
    pub(crate) const BATCH_ORDER: u64 = 3;
    pub(crate) const CROP: u64 = 4;
    pub(crate) const MASK: u64 = 5;
    pub(crate) const DROPOUT: u64 = 6;
    pub(crate) const VALID_CROP: u64 = 7;
    pub(crate) const VALID_MASK: u64 = 8;
    pub(crate) const AUGMENT: u64 = 9;
}

/// SplitMix64's output function: a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// A small, fast generator (SplitMix64) whose starting point is a hash of a seed and a list
/// of coordinates. Its sequence is fixed forever by this file, independent of any crate's
/// version, so a seed reproduces a run on any machine.
///
/// ```
/// use biotorch_train::Rng;
///
/// let mut a = Rng::at(42, &[5, 0, 17]);
/// let mut b = Rng::at(42, &[5, 0, 17]);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert_ne!(Rng::at(42, &[5, 0, 18]).next_u64(), Rng::at(42, &[5, 0, 17]).next_u64());
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// ```
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// The generator for `seed` at the given coordinates (stream label, epoch, index, ...).
    pub fn at(seed: u64, coordinates: &[u64]) -> Self {
        let mut state = mix(seed ^ GOLDEN);
        for &c in coordinates {
            state = mix(state ^ mix(c.wrapping_add(GOLDEN)));
        }
        Rng { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// A uniform number in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..n` (`n` > 0), by Lemire's multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// A 63-bit seed for libtorch's global generator (`tch::manual_seed`).
    pub fn torch_seed(&mut self) -> i64 {
        (self.next_u64() >> 1) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut rng = Rng::at(7, &[1]);
        let mut counts = [0u32; 5];
        for _ in 0..50_000 {
            counts[rng.below(5) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn shuffle_is_a_permutation_and_depends_on_the_seed() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        Rng::at(1, &[]).shuffle(&mut a);
        Rng::at(2, &[]).shuffle(&mut b);
        assert_ne!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn coordinates_are_ordered() {
        assert_ne!(Rng::at(0, &[1, 2]).next_u64(), Rng::at(0, &[2, 1]).next_u64());
        assert_ne!(Rng::at(0, &[0]).next_u64(), Rng::at(0, &[]).next_u64());
    }
}
