//! A stream of records in batches, keeping one shard's records.

/// The records of a stream in batches of up to `size`, keeping those `keep` accepts (a shard's): the batching of
/// every per-record command.
///
/// Every record is read (and counted in [`seen`](Self::seen)), kept or not. When records were read but none kept (an
/// empty shard), one empty batch is still yielded, so that the shard writes its (empty) part with the full schema;
/// an empty input yields nothing. The first error ends the stream.
///
/// ```
/// use biotorch_io::dataset::{Batches, Shard};
/// let shard: Shard = "1/2".parse().unwrap();
/// let records = (0..5u64).map(Ok::<u64, ()>);
/// let batches: Vec<Vec<u64>> = Batches::new(records, 2, |&i| shard.keep(i, "")).map(Result::unwrap).collect();
/// assert_eq!(batches, [vec![1, 3]]);
/// ```
pub struct Batches<I, F> {
    records: I,
    size: usize,
    keep: F,
    seen: u64,
    started: bool,
    done: bool,
}

impl<T, E, I, F> Batches<I, F>
where
    I: Iterator<Item = Result<T, E>>,
    F: FnMut(&T) -> bool,
{
    /// Batches of up to `size` (at least 1) of the records of `records` that `keep` accepts.
    pub fn new(records: I, size: usize, keep: F) -> Self {
        Batches { records, size: size.max(1), keep, seen: 0, started: false, done: false }
    }

    /// The records read so far, kept or not (errors not counted).
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

impl<T, E, I, F> Iterator for Batches<I, F>
where
    I: Iterator<Item = Result<T, E>>,
    F: FnMut(&T) -> bool,
{
    type Item = Result<Vec<T>, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut batch = Vec::new();
        while batch.len() < self.size {
            match self.records.next() {
                Some(Ok(record)) => {
                    self.seen += 1;
                    if (self.keep)(&record) {
                        batch.push(record);
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None => {
                    self.done = true;
                    break;
                }
            }
        }
        if batch.is_empty() && (self.seen == 0 || self.started) {
            return None;
        }
        self.started = true;
        Some(Ok(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batches(n: u64, size: usize, keep: impl Fn(u64) -> bool) -> (Vec<Vec<u64>>, u64) {
        let mut b = Batches::new((0..n).map(Ok::<u64, String>), size, |&i| keep(i));
        let all = b.by_ref().map(Result::unwrap).collect();
        (all, b.seen())
    }

    #[test]
    fn batches_are_full_but_the_last() {
        assert_eq!(batches(5, 2, |_| true), (vec![vec![0, 1], vec![2, 3], vec![4]], 5));
        assert_eq!(batches(4, 2, |_| true), (vec![vec![0, 1], vec![2, 3]], 4));
        assert_eq!(batches(9, 2, |i| i % 3 == 1), (vec![vec![1, 4], vec![7]], 9));
    }

    #[test]
    fn an_empty_shard_yields_one_empty_batch_and_an_empty_input_none() {
        assert_eq!(batches(5, 2, |_| false), (vec![vec![]], 5));
        assert_eq!(batches(0, 2, |_| true), (vec![], 0));
    }

    #[test]
    fn the_first_error_ends_the_stream() {
        let records = vec![Ok(0u64), Err("bad".to_string()), Ok(2)];
        let mut b = Batches::new(records.into_iter(), 10, |_| true);
        assert_eq!(b.next(), Some(Err("bad".to_string())));
        assert_eq!(b.next(), None);
        assert_eq!(b.seen(), 1);
    }
}
