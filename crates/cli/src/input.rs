//! Turning input arguments into reader settings and the shard.

use std::path::Path;

use biotorch_io::{content_extension, Case, FastaOptions, SmilesFormat, SmilesOptions};

use crate::cli::{InputArgs, InputFormat, ShardByArg};
// shim: removed when the branches are merged (callers use biotorch_io::dataset).
pub(crate) use biotorch_io::dataset::{Shard, ShardBy};

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

/// Parses `I/N` for `--shard` (clap turns an error into a usage error, exit code 2).
pub(crate) fn parse_shard_spec(s: &str) -> Result<(u64, u64), String> {
    s.parse::<Shard>().map(|shard| (shard.index, shard.count)).map_err(|e| e.to_string())
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
}
