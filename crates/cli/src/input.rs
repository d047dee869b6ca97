//! Turning input arguments into reader settings.

use std::path::Path;

use biotorch_io::{content_extension, Case, FastaOptions, SmilesFormat, SmilesOptions};

use crate::cli::{InputArgs, InputFormat, ShardByArg};

/// The kind of records in the input: from `--format`, else from the file name (standard input defaults to FASTA).
pub(crate) fn format_of(args: &InputArgs) -> anyhow::Result<InputFormat> {
    if let Some(f) = args.format {
        return Ok(f);
    }
    if args.input == Path::new("-") {
        return Ok(InputFormat::Fasta);
    }
    match content_extension(&args.input).as_str() {
        "fa" | "fasta" | "faa" | "fna" | "ffn" | "frn" | "fas" | "mpfa" | "seq" => Ok(InputFormat::Fasta),
        _ if SmilesFormat::from_path(&args.input).is_some() => Ok(InputFormat::Smiles),
        ext => crate::exit::bad_input!(
            "{}: cannot tell the input kind from the extension '{ext}': pass --format fasta or --format smiles",
            args.input.display()
        ),
    }
}

pub(crate) fn fasta_options(args: &InputArgs, report_invalid: bool) -> FastaOptions {
    FastaOptions {
        modality: args.modality,
        case: if args.strict_case { Case::Reject } else { Case::Upper },
        allow_duplicate_ids: args.allow_duplicate_ids,
        report_invalid,
    }
}

pub(crate) fn smiles_options(args: &InputArgs) -> SmilesOptions {
    SmilesOptions {
        smiles_column: args.smiles_column.clone(),
        id_column: args.id_column.clone(),
        format: if args.input == Path::new("-") { Some(SmilesFormat::Smi) } else { None },
    }
}

/// How [`Shard`] assigns records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShardBy {
    /// Record `i` (0-based position in the input) goes to shard `i mod N`.
    Index,
    /// A record goes to shard `fnv1a64(id) mod N`: independent of the input's order, the same on every machine.
    Id,
}

/// One of N disjoint parts of an input (`--shard I/N`): every record belongs to exactly one shard.
///
/// Round-robin by index is the default: every shard still reads the whole input (a FASTA file cannot be split
/// without reading it), but only embeds/tokenizes/checks its own records, and the shards are balanced even when the
/// input is sorted by length. Contiguous blocks would need the record count before starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    pub(crate) index: u64,
    pub(crate) count: u64,
    pub(crate) by: ShardBy,
}

impl Shard {
    /// Whether the record at 0-based position `record_index` with this `id` belongs to this shard.
    pub(crate) fn keep(&self, record_index: u64, id: &str) -> bool {
        let key = match self.by {
            ShardBy::Index => record_index,
            ShardBy::Id => fnv1a64(id.as_bytes()),
        };
        key % self.count == self.index
    }

    /// Key-value metadata recorded in the shard's output file.
    pub(crate) fn metadata(&self) -> Vec<(String, String)> {
        let by = match self.by {
            ShardBy::Index => "index",
            ShardBy::Id => "id",
        };
        vec![
            ("biotorch.shard".to_string(), format!("{}/{}", self.index, self.count)),
            ("biotorch.shard_by".to_string(), by.to_string()),
        ]
    }
}

/// 64-bit FNV-1a: a fixed hash (unlike std's randomly seeded one), so `--shard-by id` is reproducible everywhere.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Parses `I/N` for `--shard` (clap turns an error into a usage error, exit code 2).
pub(crate) fn parse_shard_spec(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("expected I/N (shard I of N, counting from 0), e.g. 0/4, not '{s}'"))?;
    let i: u64 =
        i.trim().parse().map_err(|_| format!("'{i}' in '{s}' is not a shard number (expected I/N, e.g. 0/4)"))?;
    let n: u64 =
        n.trim().parse().map_err(|_| format!("'{n}' in '{s}' is not a shard count (expected I/N, e.g. 0/4)"))?;
    if n == 0 {
        return Err(format!("'{s}': the shard count N must be at least 1"));
    }
    if i >= n {
        return Err(format!("'{s}': the shard number I must be below N (shards are numbered 0 to {})", n - 1));
    }
    Ok((i, n))
}

/// The shard asked for with `--shard I/N [--shard-by index|id]`, if any.
pub(crate) fn shard(args: &InputArgs) -> Option<Shard> {
    shard_of(args.shard, args.shard_by)
}

/// The shard of a parsed `--shard I/N` and `--shard-by` (for commands whose input is not [`InputArgs`]).
pub(crate) fn shard_of(spec: Option<(u64, u64)>, by: ShardByArg) -> Option<Shard> {
    spec.map(|(index, count)| Shard {
        index,
        count,
        by: match by {
            ShardByArg::Index => ShardBy::Index,
            ShardByArg::Id => ShardBy::Id,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_specs_are_validated() {
        assert_eq!(parse_shard_spec("0/1"), Ok((0, 1)));
        assert_eq!(parse_shard_spec("3/4"), Ok((3, 4)));
        for bad in ["4/4", "1/0", "0", "a/2", "-1/2", "1/2/3", ""] {
            assert!(parse_shard_spec(bad).is_err(), "{bad}");
        }
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
