//! The output table of `biotorch score`: the input's columns (typed again: a column whose every value is an
//! integer becomes Int64, a number Float64, else text; a name that clashes with an output column gets an `input_`
//! prefix), then `mutant` (the variant as a normalised mutation string), `score`, `sites` (per-site scores: a list,
//! or `;`-joined text in a CSV/TSV file), `valid` and `reason` (why a row was not scored). [`likelihood_frame`]:
//! the table of a likelihood run (see [`crate::likelihood`]).

use biotorch_io::polars::prelude::*;

use crate::error::Result;
use crate::likelihood::{Likelihood, LikelihoodRow};

/// The columns `score` adds after the input's.
pub const OUTPUT_COLUMNS: [&str; 5] = ["mutant", "score", "sites", "valid", "reason"];

/// One output row (beside the input's fields).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub mutant: Option<String>,
    pub score: Option<f64>,
    pub sites: Option<Vec<f64>>,
    pub valid: bool,
    pub reason: Option<String>,
}

/// The input's `columns` and `fields` (as text, one `Vec` per row), then the output columns of `rows`; with
/// `flat`, `sites` is text (for CSV/TSV).
pub fn frame(columns: &[String], fields: &[Vec<Option<String>>], rows: &[Row], flat: bool) -> Result<DataFrame> {
    let mut out: Vec<Column> = Vec::with_capacity(columns.len() + OUTPUT_COLUMNS.len());
    for (c, name) in columns.iter().enumerate() {
        let name = if OUTPUT_COLUMNS.contains(&name.as_str()) { format!("input_{name}") } else { name.clone() };
        let values: Vec<Option<&str>> = fields.iter().map(|f| f.get(c).and_then(|v| v.as_deref())).collect();
        out.push(typed(&name, &values));
    }
    out.push(Column::new("mutant".into(), rows.iter().map(|r| r.mutant.clone()).collect::<Vec<_>>()));
    out.push(Column::new("score".into(), rows.iter().map(|r| r.score).collect::<Vec<_>>()));
    let sites: Vec<Option<&[f64]>> = rows.iter().map(|r| r.sites.as_deref()).collect();
    out.push(list_column("sites", &sites, flat)?);
    out.push(Column::new("valid".into(), rows.iter().map(|r| r.valid).collect::<Vec<_>>()));
    out.push(Column::new("reason".into(), rows.iter().map(|r| r.reason.clone()).collect::<Vec<_>>()));
    Ok(DataFrame::new(rows.len(), out)?)
}

/// The names of a likelihood table's score columns, by model kind: a masked LM's are pseudo-likelihoods.
pub fn likelihood_names(masked: bool) -> [&'static str; 5] {
    if masked {
        [
            "residues",
            "pseudo_log_likelihood",
            "mean_pseudo_log_likelihood",
            "pseudo_perplexity",
            "residue_log_likelihoods",
        ]
    } else {
        ["tokens", "log_likelihood", "mean_log_likelihood", "perplexity", "token_log_likelihoods"]
    }
}

/// The table of a likelihood run: the input's `columns` and `fields` (as in [`frame`]), then the count of scored
/// terms, the sum, the mean and the (pseudo-)perplexity ([`likelihood_names`]), with `per_token` the terms (a list,
/// or `;`-joined text with `flat`); with `smiles`, the same for `canonical_smiles` under `canonical_` names; then
/// `valid` and `reason`.
pub fn likelihood_frame(
    columns: &[String],
    fields: &[Vec<Option<String>>],
    rows: &[LikelihoodRow],
    masked: bool,
    smiles: bool,
    per_token: bool,
    flat: bool,
) -> Result<DataFrame> {
    let names = likelihood_names(masked);
    let mut outputs: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    if smiles {
        outputs.push("canonical_smiles".into());
        outputs.extend(names.iter().map(|n| format!("canonical_{n}")));
    }
    outputs.extend(["valid".to_string(), "reason".to_string()]);
    let mut out: Vec<Column> = Vec::with_capacity(columns.len() + outputs.len());
    for (c, name) in columns.iter().enumerate() {
        let name = if outputs.contains(name) { format!("input_{name}") } else { name.clone() };
        let values: Vec<Option<&str>> = fields.iter().map(|f| f.get(c).and_then(|v| v.as_deref())).collect();
        out.push(typed(&name, &values));
    }
    let add = |out: &mut Vec<Column>, prefix: &str, of: &dyn Fn(&LikelihoodRow) -> Option<&Likelihood>| -> Result<()> {
        let name = |n: &str| format!("{prefix}{n}");
        let get = |f: &dyn Fn(&Likelihood) -> f64| rows.iter().map(|r| of(r).map(f)).collect::<Vec<_>>();
        out.push(Column::new(
            name(names[0]).into(),
            rows.iter().map(|r| of(r).map(|l| l.len() as u32)).collect::<Vec<_>>(),
        ));
        out.push(Column::new(name(names[1]).into(), get(&Likelihood::sum)));
        out.push(Column::new(name(names[2]).into(), get(&Likelihood::mean)));
        out.push(Column::new(name(names[3]).into(), get(&Likelihood::perplexity)));
        if per_token {
            let terms: Vec<Option<&[f64]>> = rows.iter().map(|r| of(r).map(|l| l.terms.as_slice())).collect();
            out.push(list_column(&name(names[4]), &terms, flat)?);
        }
        Ok(())
    };
    add(&mut out, "", &|r| r.given.as_ref())?;
    if smiles {
        out.push(Column::new(
            "canonical_smiles".into(),
            rows.iter().map(|r| r.canonical_smiles.clone()).collect::<Vec<_>>(),
        ));
        add(&mut out, "canonical_", &|r| r.canonical.as_ref())?;
    }
    out.push(Column::new("valid".into(), rows.iter().map(LikelihoodRow::is_valid).collect::<Vec<_>>()));
    out.push(Column::new("reason".into(), rows.iter().map(|r| r.reason.clone()).collect::<Vec<_>>()));
    Ok(DataFrame::new(rows.len(), out)?)
}

/// A column of float lists named `name` (List(Float64)), or with `flat` their values `;`-joined as text.
fn list_column(name: &str, values: &[Option<&[f64]>], flat: bool) -> Result<Column> {
    if flat {
        let text = |s: &[f64]| s.iter().map(f64::to_string).collect::<Vec<_>>().join(";");
        return Ok(Column::new(name.into(), values.iter().map(|v| v.map(text)).collect::<Vec<_>>()));
    }
    let lists: Vec<Option<Series>> = values.iter().map(|v| v.map(|s| Series::new("".into(), s))).collect();
    let mut series = Series::new(name.into(), lists);
    if series.dtype() != &DataType::List(Box::new(DataType::Float64)) {
        series = series.cast(&DataType::List(Box::new(DataType::Float64)))?;
    }
    Ok(series.into())
}

/// A text column typed again: Int64 when every value is an integer, Float64 when every value is a number, else
/// text (empty fields are missing values).
pub fn typed(name: &str, values: &[Option<&str>]) -> Column {
    let present = || values.iter().flatten().filter(|v| !v.is_empty());
    let any = present().next().is_some();
    if any && present().all(|v| v.parse::<i64>().is_ok()) {
        let ints: Vec<Option<i64>> = values.iter().map(|v| v.and_then(|v| v.parse().ok())).collect();
        return Column::new(name.into(), ints);
    }
    if any && present().all(|v| v.parse::<f64>().is_ok()) {
        let floats: Vec<Option<f64>> = values.iter().map(|v| v.and_then(|v| v.parse().ok())).collect();
        return Column::new(name.into(), floats);
    }
    let text: Vec<Option<&str>> = values.iter().map(|v| v.filter(|v| !v.is_empty())).collect();
    Column::new(name.into(), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_columns_keep_their_types_and_output_columns_follow() {
        let columns = vec!["mutant".to_string(), "DMS_score".into(), "n".into(), "set".into()];
        let fields = vec![
            vec![Some("A1G".to_string()), Some("0.5".into()), Some("3".into()), Some("train".into())],
            vec![Some("Z1G".to_string()), Some("".into()), Some("4".into()), Some("test".into())],
        ];
        let rows = vec![
            Row { mutant: Some("A1G".into()), score: Some(-1.5), sites: Some(vec![-1.5]), valid: true, reason: None },
            Row { reason: Some("bad".into()), ..Row::default() },
        ];
        let df = frame(&columns, &fields, &rows, false).unwrap();
        let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["input_mutant", "DMS_score", "n", "set", "mutant", "score", "sites", "valid", "reason"]);
        assert_eq!(df.column("DMS_score").unwrap().dtype(), &DataType::Float64);
        assert_eq!(df.column("DMS_score").unwrap().null_count(), 1);
        assert_eq!(df.column("n").unwrap().dtype(), &DataType::Int64);
        assert_eq!(df.column("set").unwrap().dtype(), &DataType::String);
        assert_eq!(df.column("sites").unwrap().dtype(), &DataType::List(Box::new(DataType::Float64)));
        let flat = frame(&columns, &fields, &rows, true).unwrap();
        assert_eq!(flat.column("sites").unwrap().str().unwrap().get(0), Some("-1.5"));
    }
}
