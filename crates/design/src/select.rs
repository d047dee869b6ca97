//! Selecting molecules from a table of `chem` or `generate` rows: [`Selection`] decides row by row (valid, passes
//! the filter, first of its key under `--unique`), whatever the rows come from; [`TableColumns`] reads what it
//! needs from a data frame (a Parquet row group), with the checks that the columns are there and of the right type.
//!
//! A row is valid by the table's `valid` column (RDKit parsed and sanitized it; for `generate`, the same as
//! `state != invalid`), or by `state` when there is no `valid` column. The filter reads the property columns
//! ([`Property::column`]). `--unique` drops a passing row whose key equals that of a row already kept: the first
//! occurrence wins, and the set of keys seen grows with the rows kept only (not with every row). A null key is never
//! a duplicate.

use std::collections::{HashMap, HashSet};

use biotorch_chem::Properties;
use biotorch_expr::{Call, Type, Values, VarId};
use biotorch_io::polars::prelude::{DataFrame, DataType, IdxCa, IdxSize, Schema};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::properties::{call_count, Filter, Matches, Property, Substructures};

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not a valid molecule.
    Invalid,
    /// Valid, but the filter is false or unknown.
    Fails,
    /// Passes, but a row with the same key was kept before.
    Duplicate,
    /// Kept.
    Kept,
}

/// Row counts of a selection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows decided.
    pub rows: u64,
    /// Valid ones.
    pub valid: u64,
    /// Valid ones passing the filter.
    pub passing: u64,
    /// Passing ones dropped as duplicates.
    pub duplicates: u64,
    /// Kept.
    pub kept: u64,
}

/// The row-by-row rule of `select`.
#[derive(Debug, Clone)]
pub struct Selection {
    filter: Option<Filter>,
    reads: Vec<Property>,
    seen: HashSet<String>,
    informative: HashSet<Property>,
    counts: Counts,
}

impl Selection {
    /// A selection with an optional filter.
    pub fn new(filter: Option<Filter>) -> Self {
        let reads = filter.as_ref().map(Filter::properties).unwrap_or_default();
        Selection { filter, reads, seen: HashSet::new(), informative: HashSet::new(), counts: Counts::default() }
    }

    /// Decides one row: whether it is `valid`, its values, and its key under `--unique` (`None` without
    /// `--unique`, or for a null key).
    pub fn decide(&mut self, valid: bool, values: &dyn Values, key: Option<&str>) -> Decision {
        self.counts.rows += 1;
        if !valid {
            return Decision::Invalid;
        }
        self.counts.valid += 1;
        for &p in &self.reads {
            let known = match p.ty() {
                Type::Number => values.number(p.var()).is_some(),
                Type::Bool => values.boolean(p.var()).is_some(),
            };
            if known {
                self.informative.insert(p);
            }
        }
        if self.filter.as_ref().is_some_and(|f| !f.passes(values)) {
            return Decision::Fails;
        }
        self.counts.passing += 1;
        if let Some(key) = key {
            if self.seen.contains(key) {
                self.counts.duplicates += 1;
                return Decision::Duplicate;
            }
            self.seen.insert(key.to_string());
        }
        self.counts.kept += 1;
        Decision::Kept
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The filter's properties that had no value in any valid row so far (so the filter's test of them was
    /// unknown and failed): the numbers first, then the flags, each in order of first use.
    pub fn uninformative(&self) -> Vec<Property> {
        let missing = |ty: Type| self.reads.iter().filter(move |p| p.ty() == ty && !self.informative.contains(p));
        missing(Type::Number).chain(missing(Type::Bool)).copied().collect()
    }
}

/// `select --sort COL [--desc] --top N`: the kept rows ordered by a numeric column, the first `n` of them.
///
/// Rows are compared by the column's value (ascending, or descending with `descending`); a row whose value is
/// missing (null or NaN) comes after every row with a value; ties keep input order (the sort is stable), so the
/// result does not depend on how the input is split into row groups. Without a column the order is the input's and
/// only `n` applies. Rows arrive a frame at a time ([`TopRows::push`]); with `n` only the best `n` are held.
#[derive(Debug, Clone)]
pub struct TopRows {
    column: Option<String>,
    descending: bool,
    n: Option<usize>,
    held: Option<DataFrame>,
}

impl TopRows {
    /// Checks that `column` (a column of `schema`, or a property name such as `rotb`, read from its column) holds
    /// numbers, and returns the rule with the column it sorts by.
    pub fn new(
        schema: &Schema,
        file: &str,
        column: Option<&str>,
        descending: bool,
        n: Option<usize>,
    ) -> Result<TopRows> {
        let column = match column {
            None => None,
            Some(name) => {
                let col = match Property::from_name(name) {
                    Some(p) if !schema.contains(name) => p.column(),
                    _ => name,
                };
                let context = format!("--sort {name}");
                match schema.get(col) {
                    None => {
                        let note = if schema.contains("valid") || schema.contains("state") {
                            column_hint(col).to_string()
                        } else {
                            String::new()
                        };
                        return Err(Error::MissingColumn {
                            context,
                            file: file.to_string(),
                            column: col.to_string(),
                            note,
                        });
                    }
                    Some(t) if !t.is_primitive_numeric() && *t != DataType::Boolean && !t.is_null() => {
                        return Err(Error::ColumnType {
                            context,
                            file: file.to_string(),
                            column: col.to_string(),
                            holds: t.to_string(),
                            expected: "numbers",
                        });
                    }
                    Some(_) => Some(col.to_string()),
                }
            }
        };
        Ok(TopRows { column, descending, n, held: None })
    }

    /// The column it sorts by.
    pub fn column(&self) -> Option<&str> {
        self.column.as_deref()
    }

    /// Adds kept rows that come after every row pushed before.
    pub fn push(&mut self, df: DataFrame) -> Result<()> {
        let mut all = match self.held.take() {
            Some(mut held) => {
                held.vstack_mut(&df)?;
                held
            }
            None => df,
        };
        if let Some(col) = &self.column {
            let values: Vec<Option<f64>> =
                all.column(col)?.cast(&DataType::Float64)?.f64()?.iter().map(|v| v.filter(|v| !v.is_nan())).collect();
            let order = sorted_order(&values, self.descending);
            let order: Vec<IdxSize> = order.into_iter().map(|i| i as IdxSize).collect();
            all = all.take(&IdxCa::from_vec("order".into(), order))?;
        }
        if let Some(n) = self.n {
            all = all.head(Some(n));
        }
        self.held = Some(all);
        Ok(())
    }

    /// The rows, in order (`None` when none was pushed).
    pub fn finish(self) -> Option<DataFrame> {
        self.held
    }
}

/// The stable order of `values`: by value (descending with `descending`), missing ones last, ties in input order.
fn sorted_order(values: &[Option<f64>], descending: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| match (values[a], values[b]) {
        (Some(x), Some(y)) if descending => y.total_cmp(&x),
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    order
}

/// Why a table may lack a property column.
pub fn column_hint(column: &str) -> &'static str {
    match column {
        "novel" | "max_train_similarity" => " (`biotorch generate --train-set FILE` writes it)",
        "nll" | "finished" => " (only `biotorch generate` tables have it)",
        "sim_ref" => " (only `biotorch optimize --similar-to` tables have it)",
        _ => " (run `biotorch chem` on the molecules first: it writes every property column)",
    }
}

/// How a row's validity is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validity {
    /// The boolean `valid` column (chem, generate, predict).
    Valid,
    /// `state != "invalid"` (a generate table without `valid`).
    State,
}

/// The columns a selection reads from a table, checked against its schema.
#[derive(Debug, Clone)]
pub struct TableColumns {
    validity: Validity,
    numbers: Vec<Property>,
    flags: Vec<Property>,
    unique: Option<String>,
    /// The filter's SMARTS and the SMILES column they are matched in.
    substructures: Option<(Substructures, String)>,
}

impl TableColumns {
    /// Checks that `schema` (of `file`, as shown to the user) has what `filter`, `unique` (a key column) and
    /// `plot` (the descriptors) need.
    pub fn new(
        schema: &Schema,
        file: &str,
        filter: Option<&Filter>,
        unique: Option<&str>,
        plot: bool,
    ) -> Result<TableColumns> {
        let validity = if schema.contains("valid") {
            Validity::Valid
        } else if schema.contains("state") {
            Validity::State
        } else {
            return Err(Error::NotAMoleculeTable { file: file.to_string() });
        };
        let reads = filter.map(Filter::properties).unwrap_or_default();
        let context = format!("--filter \"{}\"", filter.map_or("", |f| f.text()));
        let missing = |context: &str, column: &str, note: String| Error::MissingColumn {
            context: context.to_string(),
            file: file.to_string(),
            column: column.to_string(),
            note,
        };
        let mut numbers: Vec<Property> = Vec::new();
        let mut flags: Vec<Property> = Vec::new();
        for ty in [Type::Number, Type::Bool] {
            for &p in reads.iter().filter(|p| p.ty() == ty) {
                let column = p.column();
                let (fits, expected): (fn(&DataType) -> bool, _) = match ty {
                    Type::Number => (DataType::is_primitive_numeric, "numbers"),
                    Type::Bool => (|t| *t == DataType::Boolean, "true/false"),
                };
                match schema.get(column) {
                    None => {
                        let named = if p.name() == column { String::new() } else { format!(" (for `{}`)", p.name()) };
                        return Err(missing(&context, column, format!("{named}{}", column_hint(column))));
                    }
                    Some(t) if !fits(t) && !t.is_null() => {
                        return Err(Error::ColumnType {
                            context,
                            file: file.to_string(),
                            column: column.to_string(),
                            holds: t.to_string(),
                            expected,
                        });
                    }
                    Some(_) => {}
                }
                match ty {
                    Type::Number => numbers.push(p),
                    Type::Bool => flags.push(p),
                }
            }
        }
        if plot {
            for p in Property::DESCRIPTORS {
                if !schema.contains(p.column()) {
                    return Err(missing("--plot", p.column(), column_hint(p.column()).to_string()));
                }
                if !numbers.contains(&p) {
                    numbers.push(p);
                }
            }
        }
        if let Some(col) = unique {
            if !schema.contains(col) {
                return Err(missing(&format!("--unique={col}"), col, String::new()));
            }
        }
        let substructures = match filter.map(Filter::substructures).filter(|s| !s.is_empty()) {
            Some(subs) => {
                let Some(col) = ["canonical_smiles", "smiles"].into_iter().find(|c| schema.contains(c)) else {
                    return Err(missing(
                        &context,
                        "canonical_smiles",
                        " (or `smiles`: matches(..) and count(..) read the molecule)".into(),
                    ));
                };
                Some((subs.clone(), col.to_string()))
            }
            None => None,
        };
        Ok(TableColumns { validity, numbers, flags, unique: unique.map(str::to_string), substructures })
    }

    /// Reads the columns from a frame with the checked schema.
    pub fn read(&self, df: &DataFrame) -> Result<FrameValues> {
        let valid: Vec<bool> = match self.validity {
            Validity::Valid => df.column("valid")?.bool()?.iter().map(|v| v == Some(true)).collect(),
            Validity::State => df.column("state")?.str()?.iter().map(|s| s.is_some_and(|s| s != "invalid")).collect(),
        };
        let mut numbers = HashMap::new();
        for &p in &self.numbers {
            let col = df.column(p.column())?.cast(&DataType::Float64)?;
            numbers.insert(p, col.f64()?.iter().collect());
        }
        let mut flags = HashMap::new();
        for &p in &self.flags {
            let col = df.column(p.column())?.cast(&DataType::Boolean)?;
            flags.insert(p, col.bool()?.iter().collect());
        }
        let keys = match &self.unique {
            Some(col) => {
                let c = df.column(col)?.cast(&DataType::String)?;
                Some(c.str()?.iter().map(|s| s.map(str::to_owned)).collect())
            }
            None => None,
        };
        let matches = match &self.substructures {
            Some((subs, col)) => {
                let smiles: Vec<Option<&str>> = df.column(col)?.str()?.iter().collect();
                smiles
                    .par_iter()
                    .zip(valid.par_iter())
                    .map(|(s, &ok)| s.filter(|_| ok).and_then(|s| subs.count(s)))
                    .collect()
            }
            None => Vec::new(),
        };
        Ok(FrameValues { valid, numbers, flags, keys, matches, heads: Vec::new() })
    }
}

/// The values a selection reads from one frame, column by column.
#[derive(Debug, Clone, Default)]
pub struct FrameValues {
    valid: Vec<bool>,
    numbers: HashMap<Property, Vec<Option<f64>>>,
    flags: HashMap<Property, Vec<Option<bool>>>,
    keys: Option<Vec<Option<String>>>,
    /// Substructure counts per row (empty when the filter matches no SMARTS).
    matches: Vec<Option<Matches>>,
    /// Per row, the values of the run's heads (empty without heads).
    heads: Vec<Vec<Option<f64>>>,
}

impl FrameValues {
    /// Rows.
    pub fn len(&self) -> usize {
        self.valid.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.valid.is_empty()
    }

    /// Whether row `i` is a valid molecule.
    pub fn is_valid(&self, i: usize) -> bool {
        self.valid[i]
    }

    /// Row `i`'s key under `--unique` (`None` without it, or when null).
    pub fn key(&self, i: usize) -> Option<&str> {
        self.keys.as_ref().and_then(|k| k[i].as_deref())
    }

    /// Sets the values of the run's heads per row ([`crate::Heads::predict`]), for a filter that reads them.
    pub fn set_heads(&mut self, heads: Vec<Vec<Option<f64>>>) {
        self.heads = heads;
    }

    /// Row `i` as a filter sees it.
    pub fn row(&self, i: usize) -> RowValues<'_> {
        RowValues { frame: self, i }
    }

    /// The descriptors of row `i`, when all twelve are there (they are read when plotting).
    pub fn properties(&self, i: usize) -> Option<Properties> {
        let n = |p: Property| self.numbers.get(&p).and_then(|v| v[i]);
        let u = |p: Property| n(p).map(|v| v as u32);
        Some(Properties {
            mw: n(Property::Mw)?,
            logp: n(Property::Logp)?,
            tpsa: n(Property::Tpsa)?,
            hbd: u(Property::Hbd)?,
            hba: u(Property::Hba)?,
            rotatable_bonds: u(Property::Rotb)?,
            rings: u(Property::Rings)?,
            aromatic_rings: u(Property::AromaticRings)?,
            heavy_atoms: u(Property::HeavyAtoms)?,
            formal_charge: n(Property::FormalCharge)? as i32,
            qed: n(Property::Qed)?,
            sa: n(Property::Sa)?,
        })
    }
}

/// One row of a [`FrameValues`].
#[derive(Debug, Clone, Copy)]
pub struct RowValues<'a> {
    frame: &'a FrameValues,
    i: usize,
}

impl Values for RowValues<'_> {
    fn number(&self, v: VarId) -> Option<f64> {
        match Property::from_var(v) {
            Some(p) => self.frame.numbers.get(&p).and_then(|c| c[self.i]),
            None => {
                let k = crate::Heads::position(v)?;
                self.frame.heads.get(self.i).and_then(|row| row.get(k).copied().flatten())
            }
        }
    }

    fn boolean(&self, v: VarId) -> Option<bool> {
        Property::from_var(v).and_then(|p| self.frame.flags.get(&p)).and_then(|c| c[self.i])
    }

    fn call_number(&self, call: &Call) -> Option<f64> {
        call_count(self.frame.matches.get(self.i).and_then(Option::as_ref), call).map(f64::from)
    }

    fn call_boolean(&self, call: &Call) -> Option<bool> {
        call_count(self.frame.matches.get(self.i).and_then(Option::as_ref), call).map(|n| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use biotorch_io::polars::prelude::Column;

    fn frame() -> DataFrame {
        let n = 6;
        DataFrame::new(
            n,
            vec![
                Column::new("id".into(), vec!["a", "b", "a", "c", "b", "d"]),
                Column::new("valid".into(), vec![true, true, true, false, true, true]),
                Column::new("qed".into(), vec![Some(0.7), Some(0.3), Some(0.8), None, Some(0.9), Some(0.6)]),
                Column::new("pains".into(), vec![Some(false), Some(false), Some(false), None, Some(false), Some(true)]),
                Column::new("novel".into(), vec![None::<bool>; 6]),
            ],
        )
        .unwrap()
    }

    fn select(filter: &str, unique: Option<&str>) -> (Vec<Decision>, Selection) {
        let df = frame();
        let filter = (!filter.is_empty()).then(|| Filter::parse(filter).unwrap());
        let columns = TableColumns::new(df.schema(), "t.parquet", filter.as_ref(), unique, false).unwrap();
        let values = columns.read(&df).unwrap();
        let mut selection = Selection::new(filter);
        let decisions =
            (0..values.len()).map(|i| selection.decide(values.is_valid(i), &values.row(i), values.key(i))).collect();
        (decisions, selection)
    }

    #[test]
    fn the_first_passing_row_of_a_key_is_kept() {
        use Decision::*;
        // `a` at row 0 kept, again at 2: duplicate; `b` fails at 1 (QED 0.3), so its next row (4) is kept.
        let (d, s) = select("qed > 0.5 and not pains", Some("id"));
        assert_eq!(d, [Kept, Fails, Duplicate, Invalid, Kept, Fails]);
        assert_eq!(s.counts(), Counts { rows: 6, valid: 5, passing: 3, duplicates: 1, kept: 2 });
        let (d, _) = select("", None);
        assert_eq!(d, [Kept, Kept, Kept, Invalid, Kept, Kept]);
        // A filter on a column that is null in every valid row: unknown, nothing passes, and it is reported.
        let (d, s) = select("qed > 0.5 or novel", None);
        assert_eq!(d, [Kept, Fails, Kept, Invalid, Kept, Kept]);
        assert_eq!(s.uninformative(), vec![Property::Novel]);
        let (_, s) = select("not novel and qed > 0", None);
        assert_eq!(s.uninformative(), vec![Property::Novel]);
    }

    #[test]
    fn missing_or_mistyped_columns_name_the_column_and_the_file() {
        let df = frame();
        let check = |filter: &str, unique: Option<&str>, plot: bool, message: &str| {
            let filter = (!filter.is_empty()).then(|| Filter::parse(filter).unwrap());
            let e = TableColumns::new(df.schema(), "t.parquet", filter.as_ref(), unique, plot).unwrap_err();
            assert!(e.is_bad_input());
            assert_eq!(e.to_string(), message);
        };
        check(
            "qed > 0.5 and nll < 30",
            None,
            false,
            "--filter \"qed > 0.5 and nll < 30\": t.parquet has no `nll` column (only `biotorch generate` tables have it)",
        );
        check(
            "similarity > 0.2",
            None,
            false,
            "--filter \"similarity > 0.2\": t.parquet has no `max_train_similarity` column (for `similarity`) \
             (`biotorch generate --train-set FILE` writes it)",
        );
        check("", Some("inchikey"), false, "--unique=inchikey: t.parquet has no `inchikey` column");
        check(
            "",
            None,
            true,
            "--plot: t.parquet has no `mw` column (run `biotorch chem` on the molecules first: it writes every property \
             column)",
        );
        let typed =
            DataFrame::new(1, vec![Column::new("state".into(), vec!["valid"]), Column::new("qed".into(), vec!["x"])])
                .unwrap();
        let f = Filter::parse("qed > 1").unwrap();
        let e = TableColumns::new(typed.schema(), "g.parquet", Some(&f), None, false).unwrap_err();
        assert_eq!(e.to_string(), "--filter \"qed > 1\": the `qed` column of g.parquet holds str, not numbers");
        let bare = DataFrame::new(1, vec![Column::new("smiles".into(), vec!["C"])]).unwrap();
        let e = TableColumns::new(bare.schema(), "s.parquet", None, None, false).unwrap_err();
        assert!(e.to_string().starts_with("s.parquet has neither a `valid` nor a `state` column"));
    }

    #[test]
    fn a_filter_matches_smarts_in_the_smiles_column() {
        // Counts from PyPI RDKit 2026.09 (biotorch-chem's counts_match_python_rdkit): [OX2H] in ethanol 1, in
        // succinic acid 2, in cyclohexane 0.
        let df = DataFrame::new(
            4,
            vec![
                Column::new(
                    "canonical_smiles".into(),
                    vec![Some("CCO"), Some("O=C(O)CCC(=O)O"), Some("C1CCCCC1"), None],
                ),
                Column::new("valid".into(), vec![true, true, true, false]),
            ],
        )
        .unwrap();
        let f = Filter::parse("count('[OX2H]') >= 1 and not matches(\"[#7]\")").unwrap();
        let columns = TableColumns::new(df.schema(), "t.parquet", Some(&f), None, false).unwrap();
        let values = columns.read(&df).unwrap();
        let mut s = Selection::new(Some(f.clone()));
        let d: Vec<Decision> = (0..4).map(|i| s.decide(values.is_valid(i), &values.row(i), None)).collect();
        assert_eq!(d, [Decision::Kept, Decision::Kept, Decision::Fails, Decision::Invalid]);
        let two = Filter::parse("count('[OX2H]') == 2").unwrap();
        let values = TableColumns::new(df.schema(), "t", Some(&two), None, false).unwrap().read(&df).unwrap();
        assert!(!two.passes(&values.row(0)) && two.passes(&values.row(1)));
        // No SMILES column: said before any row is read.
        let bare = DataFrame::new(1, vec![Column::new("valid".into(), vec![true])]).unwrap();
        let e = TableColumns::new(bare.schema(), "b.parquet", Some(&f), None, false).unwrap_err().to_string();
        assert!(e.contains("b.parquet has no `canonical_smiles` column"), "{e}");
    }

    #[test]
    fn top_rows_sort_with_missing_last_and_ties_in_input_order() {
        let df = |ids: &[&str], qed: &[Option<f64>]| {
            DataFrame::new(
                ids.len(),
                vec![Column::new("id".into(), ids.to_vec()), Column::new("qed".into(), qed.to_vec())],
            )
            .unwrap()
        };
        let ids = |d: &DataFrame| -> Vec<String> {
            d.column("id").unwrap().str().unwrap().iter().map(|s| s.unwrap().to_string()).collect()
        };
        let first = df(&["a", "b", "c"], &[Some(0.5), None, Some(0.9)]);
        let second = df(&["d", "e", "f"], &[Some(0.5), Some(f64::NAN), Some(0.7)]);
        for (descending, n, expected) in [
            (true, None, vec!["c", "f", "a", "d", "b", "e"]),
            (false, None, vec!["a", "d", "f", "c", "b", "e"]),
            (true, Some(3), vec!["c", "f", "a"]),
            (false, Some(2), vec!["a", "d"]),
        ] {
            let mut top = TopRows::new(first.schema(), "t", Some("QED"), descending, n).unwrap();
            top.push(first.clone()).unwrap();
            top.push(second.clone()).unwrap();
            assert_eq!(ids(&top.finish().unwrap()), expected, "descending {descending}, top {n:?}");
        }
        let mut top = TopRows::new(first.schema(), "t", None, false, Some(4)).unwrap();
        top.push(first.clone()).unwrap();
        top.push(second.clone()).unwrap();
        assert_eq!(ids(&top.finish().unwrap()), ["a", "b", "c", "d"]);
        let e = TopRows::new(first.schema(), "t.parquet", Some("mw"), false, None).unwrap_err();
        assert_eq!(e.to_string(), "--sort mw: t.parquet has no `mw` column");
        let e = TopRows::new(first.schema(), "t.parquet", Some("id"), false, None).unwrap_err();
        assert_eq!(e.to_string(), "--sort id: the `id` column of t.parquet holds str, not numbers");
    }
}
