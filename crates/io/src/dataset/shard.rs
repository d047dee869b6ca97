//! `--shard I/N`: one of N disjoint parts of an input, and how records are assigned to it.

use std::fmt;
use std::str::FromStr;

use super::keys;
use crate::error::Error;

/// How [`Shard`] assigns records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShardBy {
    /// Record `i` (0-based position in the input) goes to shard `i mod N`.
    #[default]
    Index,
    /// A record goes to shard `fnv1a64(id) mod N`: independent of the input's order, the same on every machine.
    Id,
}

impl ShardBy {
    /// The name recorded in [`keys::SHARD_BY`]: `index` or `id`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardBy::Index => "index",
            ShardBy::Id => "id",
        }
    }
}

impl fmt::Display for ShardBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ShardBy {
    type Err = Error;

    /// `index` or `id`.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "index" => Ok(ShardBy::Index),
            "id" => Ok(ShardBy::Id),
            _ => Err(Error::ShardSpec(format!("'{s}' is not a way to assign records to shards (index or id)"))),
        }
    }
}

/// One of N disjoint parts of an input (`--shard I/N`): every record belongs to exactly one shard.
///
/// Round-robin by index is the default: every shard still reads the whole input (a FASTA file cannot be split
/// without reading it), but only embeds/tokenizes/checks its own records, and the shards are balanced even when the
/// input is sorted by length. Contiguous blocks would need the record count before starting.
///
/// ```
/// use biotorch_io::dataset::{Shard, ShardBy};
/// let shard: Shard = "1/4".parse().unwrap();
/// assert_eq!((shard.index, shard.count, shard.by), (1, 4, ShardBy::Index));
/// assert!(shard.keep(5, "any id") && !shard.keep(6, "any id"));
/// assert!("4/4".parse::<Shard>().unwrap_err().to_string().contains("must be below N"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I: this shard's number, `0 <= index < count`.
    pub index: u64,
    /// N: the number of shards.
    pub count: u64,
    /// How records are assigned.
    pub by: ShardBy,
}

impl Shard {
    /// Whether the record at 0-based position `record_index` with this `id` belongs to this shard.
    pub fn keep(&self, record_index: u64, id: &str) -> bool {
        let key = match self.by {
            ShardBy::Index => record_index,
            ShardBy::Id => fnv1a64(id.as_bytes()),
        };
        key % self.count == self.index
    }

    /// Key-value metadata recorded in the shard's output file: [`keys::SHARD`] (`I/N`) and [`keys::SHARD_BY`].
    pub fn metadata(&self) -> Vec<(String, String)> {
        vec![(keys::SHARD.to_string(), self.to_string()), (keys::SHARD_BY.to_string(), self.by.to_string())]
    }
}

impl fmt::Display for Shard {
    /// `I/N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `I/N` (shard I of N, counting from 0), assigned by index; the error says what is wrong with the spec.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |msg: String| Error::ShardSpec(msg);
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| bad(format!("expected I/N (shard I of N, counting from 0), e.g. 0/4, not '{s}'")))?;
        let index: u64 = i
            .trim()
            .parse()
            .map_err(|_| bad(format!("'{i}' in '{s}' is not a shard number (expected I/N, e.g. 0/4)")))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| bad(format!("'{n}' in '{s}' is not a shard count (expected I/N, e.g. 0/4)")))?;
        if count == 0 {
            return Err(bad(format!("'{s}': the shard count N must be at least 1")));
        }
        if index >= count {
            return Err(bad(format!(
                "'{s}': the shard number I must be below N (shards are numbered 0 to {})",
                count - 1
            )));
        }
        Ok(Shard { index, count, by: ShardBy::Index })
    }
}

/// 64-bit FNV-1a: a fixed hash (unlike std's randomly seeded one), so `--shard-by id` is reproducible everywhere.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Result<(u64, u64), String> {
        s.parse::<Shard>().map(|s| (s.index, s.count)).map_err(|e| e.to_string())
    }

    #[test]
    fn shard_specs_are_validated() {
        assert_eq!(spec("0/1"), Ok((0, 1)));
        assert_eq!(spec("3/4"), Ok((3, 4)));
        assert_eq!(spec(" 3 / 4 "), Ok((3, 4)));
        for bad in ["4/4", "1/0", "0", "a/2", "-1/2", "1/2/3", ""] {
            assert!(spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shard_spec_errors_say_what_is_wrong() {
        for (s, says) in [
            ("4/4", "'4/4': the shard number I must be below N (shards are numbered 0 to 3)"),
            ("0/0", "'0/0': the shard count N must be at least 1"),
            ("1", "expected I/N (shard I of N, counting from 0), e.g. 0/4, not '1'"),
            ("x/2", "'x' in 'x/2' is not a shard number (expected I/N, e.g. 0/4)"),
            ("1/y", "'y' in '1/y' is not a shard count (expected I/N, e.g. 0/4)"),
        ] {
            let e = s.parse::<Shard>().unwrap_err();
            assert_eq!(e.to_string(), says);
            assert!(e.is_bad_input(), "{s}");
        }
    }

    #[test]
    fn shards_and_their_assignment_print_and_parse_back() {
        let shard = Shard { index: 2, count: 7, by: ShardBy::Id };
        assert_eq!(shard.to_string(), "2/7");
        assert_eq!(
            shard.metadata(),
            vec![("biotorch.shard".into(), "2/7".into()), ("biotorch.shard_by".into(), "id".into())]
        );
        for by in [ShardBy::Index, ShardBy::Id] {
            assert_eq!(by.to_string().parse::<ShardBy>().unwrap(), by);
        }
        assert!("hash".parse::<ShardBy>().unwrap_err().is_bad_input());
    }

    #[test]
    fn shards_cover_every_record_exactly_once() {
        for by in [ShardBy::Index, ShardBy::Id] {
            for count in [1, 2, 3, 7] {
                for i in 0..200u64 {
                    let id = format!("sp|P{i:05}|X");
                    let owners = (0..count).filter(|&index| Shard { index, count, by }.keep(i, &id)).count();
                    assert_eq!(owners, 1, "record {i}, {count} shards by {by:?}");
                }
            }
        }
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // From the FNV reference test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }
}
