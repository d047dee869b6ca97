//! The output table of `biotorch score`: the input's columns (typed again: a column whose every value is an
//! integer becomes Int64, a number Float64, else text; a name that clashes with an output column gets an `input_`
//! prefix), then `mutant` (the variant as a normalised mutation string), `score`, `sites` (per-site scores: a list,
//! or `;`-joined text in a CSV/TSV file), `valid` and `reason` (why a row was not scored).

use biotorch_io::polars::prelude::*;

use crate::error::Result;

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
    if flat {
        let text = |s: &Vec<f64>| s.iter().map(f64::to_string).collect::<Vec<_>>().join(";");
        out.push(Column::new("sites".into(), rows.iter().map(|r| r.sites.as_ref().map(text)).collect::<Vec<_>>()));
    } else {
        let lists: Vec<Option<Series>> =
            rows.iter().map(|r| r.sites.as_ref().map(|s| Series::new("".into(), s.as_slice()))).collect();
        let mut sites = Series::new("sites".into(), lists);
        if sites.dtype() != &DataType::List(Box::new(DataType::Float64)) {
            sites = sites.cast(&DataType::List(Box::new(DataType::Float64)))?;
        }
        out.push(sites.into());
    }
    out.push(Column::new("valid".into(), rows.iter().map(|r| r.valid).collect::<Vec<_>>()));
    out.push(Column::new("reason".into(), rows.iter().map(|r| r.reason.clone()).collect::<Vec<_>>()));
    Ok(DataFrame::new(rows.len(), out)?)
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
