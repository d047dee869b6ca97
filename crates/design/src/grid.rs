//! Molecule grids (`--grid FILE.png` of `chem`, `generate`, `select`, `optimize`): the first molecules of a table a
//! command wrote, drawn as RDKit 2D depictions in a grid with a legend of chosen columns under each, as chemists look
//! at candidates. The table is read back as any molecule input is (Parquet, CSV/TSV or SD), so the picture shows
//! exactly the rows of the output, in their order.

use std::path::Path;

use biotorch_chem::{grid_png, GridLayout, GRID_MAX_MOLECULES};
use biotorch_io::{SmilesFormat, SmilesOptions, SmilesReader};

use crate::error::{Error, Result};

/// What to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridRequest {
    /// Columns shown under each molecule, in order; `None` for [`default_legend`]'s choice.
    pub legend: Option<Vec<String>>,
    /// Most molecules drawn: the first valid ones in the table's order.
    pub max: usize,
    /// Panels per row and their size.
    pub layout: GridLayout,
}

/// The longest side of a grid picture, in pixels (cairo's limit).
const MAX_SIDE: u32 = 32_767;

/// Default of `--grid-max`.
pub const GRID_MAX_DEFAULT: usize = 48;

impl Default for GridRequest {
    fn default() -> Self {
        GridRequest { legend: None, max: GRID_MAX_DEFAULT, layout: GridLayout::default() }
    }
}

/// What was drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridSummary {
    /// Molecules drawn.
    pub drawn: usize,
    /// Rows passed over before the last one drawn (invalid, or without a molecule).
    pub skipped: u64,
    /// The legend's columns.
    pub legend: Vec<String>,
    /// The picture's size in pixels.
    pub size: (u32, u32),
}

/// The legend when none is asked for: the id (`id`, else `name`) when the table has one, then the first of `score`
/// (`optimize`), `qed` present.
pub fn default_legend(columns: &[String]) -> Vec<String> {
    let has = |c: &str| columns.iter().any(|x| x == c);
    let id = ["id", "name"].into_iter().find(|c| has(c));
    let value = ["score", "qed"].into_iter().find(|c| has(c));
    id.into_iter().chain(value).map(str::to_string).collect()
}

/// Checks the options before the work: at least one molecule, at most [`GRID_MAX_MOLECULES`] and a picture of at
/// most 32,767 pixels a side, and a `.png` name.
///
/// # Errors
///
/// [`Error::Request`] naming what is wrong.
pub fn check_grid(picture: &Path, request: &GridRequest) -> Result<()> {
    let ext = picture.extension().map(|e| e.to_string_lossy().to_lowercase());
    if ext.as_deref() != Some("png") {
        return Err(Error::Request(format!("--grid {}: the grid picture is a PNG file (.png)", picture.display())));
    }
    if request.max == 0 || request.max > GRID_MAX_MOLECULES {
        return Err(Error::Request(format!("--grid-max {}: draw 1 to {GRID_MAX_MOLECULES} molecules", request.max)));
    }
    // cairo's image surfaces are at most 32,767 pixels a side.
    let (width, height) = request.layout.size(request.max);
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::Request(format!(
            "--grid-max {} at {} per row is a picture of {width} x {height} pixels, over the {MAX_SIDE} a side \
             RDKit's drawing allows: draw fewer molecules, or more per row",
            request.max, request.layout.per_row
        )));
    }
    Ok(())
}

/// Draws the first `request.max` molecules of `table` (Parquet, CSV/TSV or SD, as a command wrote it) to `picture`
/// (PNG, written atomically). The molecule of a row is its `canonical_smiles` when the table has that column, else
/// its `smiles` (an SD file's: its MOL block); rows with none, or one RDKit does not parse, are passed over. A
/// legend value that is a number with a fraction is shown with at most 3 decimals; `id`, `name` and `smiles` are
/// shown bare, the others as `column: value`.
///
/// # Errors
///
/// [`Error::Request`] when a legend column is not in the table or no row has a molecule; the reader's errors.
pub fn draw_grid(table: &Path, picture: &Path, request: &GridRequest) -> Result<GridSummary> {
    check_grid(picture, request)?;
    let shown = table.display().to_string();
    let columns = SmilesReader::open(table, &SmilesOptions::default()).map(|r| r.columns().to_vec()).or_else(|e| {
        if matches!(e, biotorch_io::Error::Usage(_)) {
            Ok(Vec::new())
        } else {
            Err(e)
        }
    })?;
    // An SD file's molecule is its MOL block (written from canonical_smiles); a table's, its canonical_smiles.
    let sdf = SmilesFormat::from_path(table) == Some(SmilesFormat::Sdf);
    let options = SmilesOptions {
        smiles_column: (!sdf && columns.iter().any(|c| c == "canonical_smiles"))
            .then(|| "canonical_smiles".to_string()),
        ..SmilesOptions::default()
    };
    let no_molecule = || Error::Request(format!("--grid {}: {shown} has no valid molecule to draw", picture.display()));
    let reader = SmilesReader::open(table, &options)?;
    let columns = reader.columns().to_vec();
    let legend = request.legend.clone().unwrap_or_else(|| default_legend(&columns));
    let mut picks = Vec::with_capacity(legend.len());
    for name in &legend {
        match columns.iter().position(|c| c == name) {
            Some(i) => picks.push(Some(i)),
            None if name == "smiles" => picks.push(None),
            // An SD file's columns are its first record's data items: an empty one has none.
            None if sdf && SmilesReader::open(table, &options)?.next().is_none() => return Err(no_molecule()),
            None => {
                return Err(Error::Request(format!(
                    "--grid-legend: {shown} has no column `{name}` (columns: {})",
                    columns.join(", ")
                )))
            }
        }
    }
    let (mut molecules, mut skipped) = (Vec::new(), 0u64);
    for record in reader {
        if molecules.len() >= request.max {
            break;
        }
        let record = record?;
        if record.smiles.is_empty() || !biotorch_chem::validate(&record.smiles).valid {
            skipped += 1;
            continue;
        }
        let text: Vec<String> = legend
            .iter()
            .zip(&picks)
            .filter_map(|(name, pick)| {
                let value = match pick {
                    Some(i) => record.fields.get(*i).cloned().flatten()?,
                    None => record.smiles.clone(),
                };
                let value = pretty(&value);
                Some(if matches!(name.as_str(), "id" | "name" | "smiles") { value } else { format!("{name}: {value}") })
            })
            .collect();
        molecules.push((record.smiles, text.join("  ")));
    }
    if molecules.is_empty() {
        return Err(no_molecule());
    }
    let pairs: Vec<(&str, &str)> = molecules.iter().map(|(s, l)| (s.as_str(), l.as_str())).collect();
    let png = grid_png(&pairs, &request.layout).map_err(|e| Error::Request(format!("--grid: {e}")))?;
    biotorch_io::write_atomic(picture, &png)?;
    Ok(GridSummary { drawn: molecules.len(), skipped, legend, size: request.layout.size(molecules.len()) })
}

/// A number with a fraction to at most 3 decimals (`0.81234` -> `0.812`, `5.50` -> `5.5`); anything else as it is.
fn pretty(value: &str) -> String {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && (value.contains('.') || value.contains('e')) => {
            let text = format!("{v:.3}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            if text == "-0" {
                "0".to_string()
            } else {
                text.to_string()
            }
        }
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_defaults_and_values() {
        let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(default_legend(&cols(&["rank", "smiles", "score", "qed"])), ["score"]);
        assert_eq!(default_legend(&cols(&["id", "smiles", "qed"])), ["id", "qed"]);
        assert!(default_legend(&cols(&["smiles"])).is_empty());
        assert_eq!(
            [pretty("0.81234"), pretty("5.50"), pretty("12"), pretty("CCO"), pretty("1e-7"), pretty("-1e-7")],
            ["0.812", "5.5", "12", "CCO", "0", "0"]
        );
    }

    #[test]
    fn grid_of_a_csv_table() {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("t.csv");
        std::fs::write(&table, "id,smiles,canonical_smiles,qed\na,OCC,CCO,0.41\nb,C1CC,,\nc,c1ccccc1,c1ccccc1,0.44\n")
            .unwrap();
        let picture = dir.path().join("g.png");
        let request = GridRequest {
            layout: GridLayout { per_row: 2, panel_width: 120, panel_height: 100 },
            ..Default::default()
        };
        let summary = draw_grid(&table, &picture, &request).unwrap();
        assert_eq!((summary.drawn, summary.skipped, summary.size), (2, 1, (240, 100)));
        assert_eq!(summary.legend, ["id", "qed"]);
        assert!(std::fs::read(&picture).unwrap().starts_with(b"\x89PNG"));
        let bad = GridRequest { legend: Some(vec!["pic50".into()]), ..request.clone() };
        let e = draw_grid(&table, &picture, &bad).unwrap_err().to_string();
        assert!(e.contains("has no column `pic50` (columns: id, smiles, canonical_smiles, qed)"), "{e}");
        assert!(check_grid(&dir.path().join("g.svg"), &request).is_err());
        let tall = GridRequest { max: 4096, ..request };
        let e = check_grid(&picture, &tall).unwrap_err().to_string();
        assert!(e.contains("is a picture of 240 x 204800 pixels"), "{e}");
    }
}
