//! Train/validation/test splits of labelled rows: random, by scaffold (groups kept on one side), from a given
//! column, and k folds. Every draw comes from a seed (SplitMix64 on the seed and a purpose), so a seed gives the
//! same split on any machine.

use std::collections::BTreeMap;

/// Which rows go where (indices into the caller's row list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
}

/// SplitMix64 seeded by a seed and a purpose.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, purpose: u64) -> Rng {
        let mut r = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
        r.0 = r.next_u64() ^ purpose.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Purposes of the random streams.
pub mod stream {
    pub const SPLIT: u64 = 1;
    pub const VALID: u64 = 2;
    pub const FOLDS: u64 = 3;
    pub const BATCHES: u64 = 4;
    pub const CALIBRATION: u64 = 5;
}

/// Rounds `fraction * n` to a count, at least one when the fraction is positive and `n > 1`.
fn count(n: usize, fraction: f64) -> usize {
    if fraction <= 0.0 || n < 2 {
        return 0;
    }
    ((fraction * n as f64).round() as usize).clamp(1, n - 1)
}

/// Random split of `rows` into train / valid / test by fractions.
pub fn random(rows: &[usize], valid_fraction: f64, test_fraction: f64, seed: u64) -> Split {
    let mut order = rows.to_vec();
    Rng::new(seed, stream::SPLIT).shuffle(&mut order);
    let n_test = count(order.len(), test_fraction);
    let n_valid =
        count(order.len() - n_test, valid_fraction * order.len() as f64 / (order.len() - n_test).max(1) as f64);
    let test = order[..n_test].to_vec();
    let valid = order[n_test..n_test + n_valid].to_vec();
    let train = order[n_test + n_valid..].to_vec();
    sorted(Split { train, valid, test })
}

/// Scaffold split (chemprop's balanced variant): rows with the same group key (a Murcko scaffold) stay together;
/// groups larger than half the test size go to train first, the others in a seeded random order, filling test,
/// then valid, then train.
pub fn grouped(rows: &[usize], groups: &[String], valid_fraction: f64, test_fraction: f64, seed: u64) -> Split {
    let mut by_group: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &r in rows {
        by_group.entry(groups[r].as_str()).or_default().push(r);
    }
    let n = rows.len();
    let (n_test, n_valid) = (count(n, test_fraction), count(n, valid_fraction));
    let mut sets: Vec<Vec<usize>> = by_group.into_values().collect();
    let (mut big, mut small): (Vec<Vec<usize>>, Vec<Vec<usize>>) = sets.drain(..).partition(|s| s.len() > n_test / 2);
    let mut rng = Rng::new(seed, stream::SPLIT);
    rng.shuffle(&mut big);
    rng.shuffle(&mut small);
    let mut split = Split::default();
    for set in big.into_iter().chain(small) {
        if split.test.len() + set.len() <= n_test {
            split.test.extend(set);
        } else if split.valid.len() + set.len() <= n_valid {
            split.valid.extend(set);
        } else {
            split.train.extend(set);
        }
    }
    sorted(split)
}

/// Holds out `fraction` of `train` for validation (random, or by group when `groups` is given).
pub fn hold_out(train: &[usize], groups: Option<&[String]>, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let s = match groups {
        Some(g) => grouped(train, g, 0.0, fraction, seed ^ stream::VALID),
        None => random(train, 0.0, fraction, seed ^ stream::VALID),
    };
    (s.train, s.test)
}

/// Holds out `fraction` of `train` as calibration rows (random, or by group when `groups` is given), drawn
/// independently of [`hold_out`]'s validation rows.
pub fn hold_out_calibration(
    train: &[usize],
    groups: Option<&[String]>,
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let s = match groups {
        Some(g) => grouped(train, g, 0.0, fraction, seed ^ (stream::CALIBRATION << 16)),
        None => random(train, 0.0, fraction, seed ^ (stream::CALIBRATION << 16)),
    };
    (s.train, s.test)
}

/// Assigns `rows` to `k` folds (by group when `groups` is given: a group stays in one fold); returns the folds.
pub fn folds(rows: &[usize], groups: Option<&[String]>, k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut sets: Vec<Vec<usize>> = match groups {
        Some(g) => {
            let mut by_group: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for &r in rows {
                by_group.entry(g[r].as_str()).or_default().push(r);
            }
            by_group.into_values().collect()
        }
        None => rows.iter().map(|&r| vec![r]).collect(),
    };
    Rng::new(seed, stream::FOLDS).shuffle(&mut sets);
    // Largest groups first, each into the currently smallest fold.
    sets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); k];
    for set in sets {
        let smallest = (0..k).min_by_key(|&f| out[f].len()).unwrap_or(0);
        out[smallest].extend(set);
    }
    out.iter_mut().for_each(|f| f.sort_unstable());
    out
}

fn sorted(mut s: Split) -> Split {
    s.train.sort_unstable();
    s.valid.sort_unstable();
    s.test.sort_unstable();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_split_is_a_partition_and_seeded() {
        let rows: Vec<usize> = (0..100).collect();
        let s = random(&rows, 0.1, 0.2, 7);
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (70, 10, 20));
        let mut all: Vec<usize> = s.train.iter().chain(&s.valid).chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, rows);
        assert_eq!(random(&rows, 0.1, 0.2, 7), s);
        assert_ne!(random(&rows, 0.1, 0.2, 8), s);
    }

    #[test]
    fn groups_stay_together() {
        let rows: Vec<usize> = (0..60).collect();
        let groups: Vec<String> = rows.iter().map(|r| format!("g{}", r % 12)).collect();
        let s = grouped(&rows, &groups, 0.1, 0.2, 1);
        for r in &s.test {
            assert!(!s.train.iter().any(|t| groups[*t] == groups[*r]));
        }
        let f = folds(&rows, Some(&groups), 3, 1);
        assert_eq!(f.iter().map(Vec::len).sum::<usize>(), 60);
        for a in &f[0] {
            assert!(!f[1].iter().any(|b| groups[*a] == groups[*b]));
        }
    }
}
