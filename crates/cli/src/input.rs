//! Turning input arguments into reader settings.

use std::path::Path;

use biotorch_io::{content_extension, Case, FastaOptions, SmilesFormat, SmilesOptions};

use crate::cli::{InputArgs, InputFormat};

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
