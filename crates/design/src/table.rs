//! The engines' rows as data frames (one Parquet row group each): the columns `chem`, `generate` and `optimize`
//! write.

use biotorch_chem::Properties;
use biotorch_io::polars::prelude::*;

use crate::error::Result;
use crate::generate::GeneratedRow;
use crate::optimize::{Candidate, StepMetrics};
use crate::score::Scored;

/// The property columns of a batch of scored molecules (`valid`, `reason`, `canonical_smiles`, then the
/// descriptors, scaffold and alerts); `null` where a molecule is invalid.
pub fn property_columns(rows: &[&Scored]) -> Vec<Column> {
    fn col<T, F>(name: &str, rows: &[&Scored], f: F) -> Column
    where
        F: Fn(&Properties) -> T,
        Series: NamedFrom<Vec<Option<T>>, [Option<T>]>,
    {
        Column::new(name.into(), rows.iter().map(|r| r.props.as_ref().map(&f)).collect::<Vec<Option<T>>>())
    }
    vec![
        Column::new("valid".into(), rows.iter().map(|r| r.valid).collect::<Vec<_>>()),
        Column::new("reason".into(), rows.iter().map(|r| r.reason.clone()).collect::<Vec<_>>()),
        Column::new("canonical_smiles".into(), rows.iter().map(|r| r.canonical.clone()).collect::<Vec<_>>()),
        col("qed", rows, |p| p.qed),
        col("sa", rows, |p| p.sa),
        col("logp", rows, |p| p.logp),
        col("mw", rows, |p| p.mw),
        col("tpsa", rows, |p| p.tpsa),
        col("hbd", rows, |p| p.hbd),
        col("hba", rows, |p| p.hba),
        col("rotatable_bonds", rows, |p| p.rotatable_bonds),
        col("rings", rows, |p| p.rings),
        col("aromatic_rings", rows, |p| p.aromatic_rings),
        col("heavy_atoms", rows, |p| p.heavy_atoms),
        col("formal_charge", rows, |p| p.formal_charge),
        Column::new("scaffold".into(), rows.iter().map(|r| r.scaffold.clone()).collect::<Vec<_>>()),
        Column::new("pains".into(), rows.iter().map(|r| r.pains).collect::<Vec<_>>()),
        Column::new("brenk".into(), rows.iter().map(|r| r.brenk).collect::<Vec<_>>()),
        Column::new("alerts".into(), rows.iter().map(|r| r.alerts.clone()).collect::<Vec<_>>()),
    ]
}

/// The rows of `generate`: `index`, `smiles`, `state`, `nll`, `finished`, `novel`, `max_train_similarity`,
/// `passes`, then the property columns (with `properties`: `generate --properties none` has no such columns, only
/// validity in `state`). No rows give the same columns, empty.
pub fn generated(rows: &[GeneratedRow], properties: bool) -> Result<DataFrame> {
    generated_with(rows, properties, &[], false)
}

/// [`generated`] with a column per head value (`heads`: [`crate::Heads::columns`]) after `passes`, then, with
/// `scaffold`, a column `contains_scaffold` (a run with [`crate::GenerateRequest::scaffold`]).
pub fn generated_with(rows: &[GeneratedRow], properties: bool, heads: &[String], scaffold: bool) -> Result<DataFrame> {
    let mut columns = vec![
        Column::new("index".into(), rows.iter().map(|r| r.index).collect::<Vec<u64>>()),
        Column::new("smiles".into(), rows.iter().map(|r| r.smiles.as_str()).collect::<Vec<_>>()),
        Column::new("state".into(), rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>()),
        Column::new("nll".into(), rows.iter().map(|r| r.nll).collect::<Vec<f64>>()),
        Column::new("finished".into(), rows.iter().map(|r| r.finished).collect::<Vec<bool>>()),
        Column::new("novel".into(), rows.iter().map(|r| r.novel).collect::<Vec<_>>()),
        Column::new("max_train_similarity".into(), rows.iter().map(|r| r.max_train_similarity).collect::<Vec<_>>()),
        Column::new("passes".into(), rows.iter().map(|r| r.passes).collect::<Vec<_>>()),
    ];
    for (k, name) in heads.iter().enumerate() {
        let values: Vec<Option<f64>> = rows.iter().map(|r| r.heads.get(k).copied().flatten()).collect();
        columns.push(Column::new(name.as_str().into(), values));
    }
    if scaffold {
        columns.push(Column::new(
            "contains_scaffold".into(),
            rows.iter().map(|r| r.contains_scaffold).collect::<Vec<_>>(),
        ));
    }
    if properties {
        columns.extend(property_columns(&rows.iter().map(|r| &r.molecule).collect::<Vec<_>>()));
    }
    Ok(DataFrame::new(rows.len(), columns)?)
}

/// The best molecules of `optimize`, ranked: `rank` (from 1), `smiles`, `score`, `meets_constraints`, `step`,
/// `sim_ref`, `nll`, then the property columns.
pub fn best_molecules(best: &[Candidate]) -> Result<DataFrame> {
    best_molecules_with(best, &[], false)
}

/// [`best_molecules`] with a column per head value (`heads`: [`crate::Heads::columns`]) after `nll`, then, with
/// `scaffold`, a column `contains_scaffold` (a run with [`crate::OptimizeRequest::scaffold`]).
pub fn best_molecules_with(best: &[Candidate], heads: &[String], scaffold: bool) -> Result<DataFrame> {
    let mut columns = vec![
        Column::new("rank".into(), (1..=best.len() as u32).collect::<Vec<_>>()),
        Column::new("smiles".into(), best.iter().map(|c| c.smiles.as_str()).collect::<Vec<_>>()),
        Column::new("score".into(), best.iter().map(|c| c.score).collect::<Vec<_>>()),
        Column::new("meets_constraints".into(), best.iter().map(|c| c.meets).collect::<Vec<_>>()),
        Column::new("step".into(), best.iter().map(|c| c.step).collect::<Vec<_>>()),
        Column::new("sim_ref".into(), best.iter().map(|c| c.sim_ref).collect::<Vec<_>>()),
        Column::new("nll".into(), best.iter().map(|c| c.nll).collect::<Vec<_>>()),
    ];
    for (k, name) in heads.iter().enumerate() {
        let values: Vec<Option<f64>> = best.iter().map(|c| c.heads.get(k).copied().flatten()).collect();
        columns.push(Column::new(name.as_str().into(), values));
    }
    if scaffold {
        columns.push(Column::new(
            "contains_scaffold".into(),
            best.iter().map(|c| c.contains_scaffold).collect::<Vec<_>>(),
        ));
    }
    columns.extend(property_columns(&best.iter().map(|c| &c.molecule).collect::<Vec<_>>()));
    Ok(DataFrame::new(best.len(), columns)?)
}

/// The per-step metrics of `optimize`: `step`, then each metric, null where it is missing or not finite (the loss
/// of a step that learned from nothing).
pub fn steps(steps: &[StepMetrics]) -> Result<DataFrame> {
    let finite = |v: f64| v.is_finite().then_some(v);
    let metric = |name: &str, f: &dyn Fn(&StepMetrics) -> Option<f64>| {
        Column::new(name.into(), steps.iter().map(|s| f(s).and_then(finite)).collect::<Vec<Option<f64>>>())
    };
    let columns = vec![
        Column::new("step".into(), steps.iter().map(|s| s.step).collect::<Vec<u64>>()),
        metric("valid", &|s| Some(s.valid)),
        metric("unique", &|s| Some(s.unique)),
        metric("mean_score", &|s| Some(s.mean_score)),
        metric("top10_score", &|s| s.top10_score),
        metric("mean_qed", &|s| s.mean_qed),
        metric("mean_sim_ref", &|s| s.mean_sim_ref),
        metric("meets_constraints", &|s| Some(s.meets_constraints)),
        metric("loss", &|s| Some(s.loss)),
    ];
    Ok(DataFrame::new(steps.len(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::State;

    #[test]
    fn frames_have_their_columns_with_or_without_rows() {
        let row = GeneratedRow {
            index: 4,
            smiles: "OCC".into(),
            state: State::Valid,
            nll: 3.5,
            finished: true,
            novel: None,
            max_train_similarity: None,
            passes: Some(true),
            molecule: Scored::new("OCC", false),
            heads: Vec::new(),
            contains_scaffold: None,
        };
        let one = generated(std::slice::from_ref(&row), true).unwrap();
        let none = generated(&[], true).unwrap();
        assert_eq!(one.schema(), none.schema(), "an empty part has the full schema");
        assert_eq!(one.height(), 1);
        let names: Vec<String> = one.get_column_names().iter().map(|n| n.to_string()).collect();
        assert_eq!(
            names[..9],
            ["index", "smiles", "state", "nll", "finished", "novel", "max_train_similarity", "passes", "valid"]
        );
        assert_eq!(one.column("canonical_smiles").unwrap().str().unwrap().get(0), Some("CCO"));
        let metrics = StepMetrics {
            step: 1,
            valid: 0.5,
            unique: 1.0,
            mean_score: 0.25,
            top10_score: None,
            mean_qed: Some(0.4),
            mean_sim_ref: None,
            meets_constraints: 0.0,
            loss: f64::NAN,
            scaffolds_full: 0,
        };
        let df = steps(&[metrics]).unwrap();
        assert_eq!(df.column("loss").unwrap().null_count(), 1, "NaN is written as null");
        assert_eq!(df.column("mean_qed").unwrap().f64().unwrap().get(0), Some(0.4));
    }
}
