//! A whole `score` run on rows: the input table read (a column of mutation strings or of mutated sequences, the
//! other columns kept for passing through), every row parsed, the valid ones scored, one output [`Row`] per input row
//! in input order; or every single substitution (`--saturation`).

use std::path::Path;

use biotorch_io::rows::SequenceRows;
use biotorch_io::Modality;

use crate::engine::{ScoreOptions, Scorer};
use crate::error::{Error, Result};
use crate::mutation::{saturation, MutationError, Variant, WildType};
use crate::table::Row;

/// What a table's variant column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Mutation strings (`A24G:L30P`).
    Mutations,
    /// Full mutated sequences of the wild type's length.
    Sequences,
}

/// An input table read into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Every column, in order.
    pub columns: Vec<String>,
    /// Each row's fields as text, in `columns` order.
    pub fields: Vec<Vec<Option<String>>>,
    /// The variant column's name and what it holds.
    pub column: String,
    pub holds: Holds,
    /// The variant column's values.
    pub variants: Vec<String>,
}

impl Table {
    /// Reads `path` (CSV/TSV/Parquet, maybe gzipped). The variant column is `sequence_column` (mutated sequences) when
    /// given, else `mutation_column` (default `mutant`); when neither is given and there is no `mutant` column, a
    /// `mutated_sequence` column (ProteinGym's) is used.
    pub fn read(path: &Path, mutation_column: Option<&str>, sequence_column: Option<&str>) -> Result<Table> {
        let (column, holds) = match (sequence_column, mutation_column) {
            (Some(c), _) => (c.to_string(), Holds::Sequences),
            (None, Some(c)) => (c.to_string(), Holds::Mutations),
            (None, None) => match SequenceRows::open(path, Modality::Protein, Some("mutant")) {
                Ok(_) => ("mutant".to_string(), Holds::Mutations),
                Err(first) => match SequenceRows::open(path, Modality::Protein, Some("mutated_sequence")) {
                    Ok(_) => ("mutated_sequence".to_string(), Holds::Sequences),
                    Err(_) => return Err(first.into()),
                },
            },
        };
        let mut rows = SequenceRows::open(path, Modality::Protein, Some(&column))?;
        let columns = rows.columns();
        let (mut fields, mut variants) = (Vec::new(), Vec::new());
        while let Some(row) = rows.next_row()? {
            variants.push(row.sequence);
            fields.push(row.fields);
        }
        Ok(Table { columns, fields, column, holds, variants })
    }

    /// The values of `column` as numbers (missing or non-numeric values are NaN), for the fitness metrics.
    pub fn numbers(&self, column: &str) -> Result<Vec<f64>> {
        let c = self.columns.iter().position(|name| name == column).ok_or_else(|| {
            Error::Request(format!("there is no column '{column}' in the input (columns: {})", self.columns.join(", ")))
        })?;
        Ok(self
            .fields
            .iter()
            .map(|f| f.get(c).and_then(|v| v.as_deref()).and_then(|v| v.trim().parse().ok()).unwrap_or(f64::NAN))
            .collect())
    }
}

/// Parses every row of `table` against `wild_type`; the first invalid row is an error unless `skip_invalid`.
pub fn parse_rows(
    table: &Table,
    wild_type: &WildType,
    skip_invalid: bool,
) -> Result<Vec<std::result::Result<Variant, MutationError>>> {
    let mut out = Vec::with_capacity(table.variants.len());
    for (i, text) in table.variants.iter().enumerate() {
        let parsed = match table.holds {
            Holds::Mutations => wild_type.parse(text),
            Holds::Sequences => wild_type.diff(text),
        };
        match parsed {
            Err(error) if !skip_invalid => return Err(Error::Mutation { row: i + 1, error }),
            parsed => out.push(parsed),
        }
    }
    Ok(out)
}

/// Scores the parsed rows: one [`Row`] per entry, invalid ones with their reason and no score.
pub fn score_rows(
    scorer: &Scorer<'_>,
    wild_type: &WildType,
    parsed: &[std::result::Result<Variant, MutationError>],
    options: &ScoreOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Row>> {
    let valid: Vec<&Variant> = parsed.iter().filter_map(|p| p.as_ref().ok()).collect();
    let mut scores = scorer.score(wild_type, &valid, options, progress)?.into_iter();
    let marginal = options.method != crate::engine::Method::Pll;
    Ok(parsed
        .iter()
        .map(|p| match p {
            Ok(variant) => {
                let s = scores.next().expect("one score per valid variant");
                Row {
                    mutant: Some(wild_type.name(variant)),
                    score: Some(s.score),
                    sites: marginal.then_some(s.sites),
                    valid: true,
                    reason: None,
                }
            }
            Err(e) => Row { reason: Some(e.to_string()), ..Row::default() },
        })
        .collect())
}

/// Scored rows with the columns that pass through.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The pass-through columns' names and each row's values of them, as text.
    pub columns: Vec<String>,
    pub fields: Vec<Vec<Option<String>>>,
    pub rows: Vec<Row>,
}

/// Every single substitution of the wild type, scored, with the columns `position`, `wt` and `mt`.
pub fn score_saturation(
    scorer: &Scorer<'_>,
    wild_type: &WildType,
    options: &ScoreOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Scored> {
    let variants: Vec<std::result::Result<Variant, MutationError>> =
        saturation(wild_type).into_iter().map(Ok).collect();
    let rows = score_rows(scorer, wild_type, &variants, options, progress)?;
    let fields = variants
        .iter()
        .flatten()
        .map(|v| {
            let s = v.substitutions[0];
            vec![
                Some(wild_type.position(s.index).to_string()),
                Some((s.wt as char).into()),
                Some((s.mt as char).into()),
            ]
        })
        .collect();
    Ok(Scored { columns: vec!["position".into(), "wt".into(), "mt".into()], fields, rows })
}

/// The scores of [`score_saturation`]'s rows as a matrix: per position, its residue number, wild-type letter and one
/// score per letter of [`crate::AMINO_ACIDS`] (`None` for the wild-type letter), for a heatmap.
pub fn saturation_matrix(wild_type: &WildType, rows: &[Row]) -> Vec<(i64, u8, Vec<Option<f64>>)> {
    let mut scores = rows.iter().map(|r| r.score);
    wild_type
        .residues
        .iter()
        .enumerate()
        .map(|(index, &wt)| {
            let values =
                crate::AMINO_ACIDS.iter().map(|&aa| if aa == wt { None } else { scores.next().flatten() }).collect();
            (wild_type.position(index), wt, values)
        })
        .collect()
}
