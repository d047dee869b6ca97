//! `biotorch optimize`: steers a SMILES decoder toward a score by reinforcement learning on its own samples, with
//! augmented hill-climb (Thomas et al., J. Cheminform. 2022) on REINVENT's augmented likelihood (Olivecrona et al.
//! 2017):
//!
//! ```text
//! each step: sample B molecules from the agent; score them (0 for invalid ones);
//!            keep the top fraction by score (the hill-climb);
//!            loss = mean over kept of (log P_prior(x) + sigma * score(x) - log P_agent(x))^2
//! ```
//!
//! The prior is the model as given and stays fixed; the agent, a copy, is updated with Adam. A diversity filter
//! (REINVENT's identical-Murcko-scaffold memory) zeroes the score of a molecule whose scaffold has already produced
//! `--scaffold-bucket` high-scoring molecules, so the agent keeps exploring. The score is a weighted sum of
//! properties (`--objective "qed - 0.1*sa + 0.5*sim_ref"`); `--filter` is a hard constraint (score 0 when not met);
//! `--similar-to S --min-similarity D` scales the score by `min(1, sim_ref / D)` and marks the molecules that meet
//! the constraint. Outputs: the best unique molecules with their scores (`-o`), a per-step metrics table and plot.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use biotorch_chem::Molecule;
use biotorch_io::polars::prelude::*;
use biotorch_models::sampling::SamplingOptions;
use biotorch_models::SmilesGpt;
use rayon::prelude::*;
use serde_json::json;
use tch::{nn, nn::OptimizerConfig, Kind, Tensor};

use super::generate::Generator;
use super::molecules::{property_columns, FilterRow, Scored, FP_BITS, FP_RADIUS};
use super::{Ctx, TableOut};
use crate::cli::OptimizeArgs;
use crate::exit::bad_input;
use crate::filter::{Filter, PropertySource};

/// A weighted sum of molecule properties: `w1*name1 + w2*name2 - ...` (a term is `NUMBER*NAME`, `NAME*NUMBER`,
/// `NAME` or `NUMBER`).
#[derive(Debug, Clone)]
pub(crate) struct Objective {
    terms: Vec<(f64, Option<crate::filter::Numeric>)>,
    text: String,
}

impl Objective {
    pub(crate) fn parse(text: &str) -> Result<Objective> {
        let bad = |why: String| -> Result<Objective> {
            bad_input!("cannot parse --objective \"{text}\": {why} (write a weighted sum such as \"qed - 0.1*sa + 0.5*sim_ref\")")
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return bad("it is empty".into());
        }
        let mut terms = Vec::new();
        let mut rest = compact.as_str();
        while !rest.is_empty() {
            let (sign, body) = match rest.as_bytes()[0] {
                b'+' => (1.0, &rest[1..]),
                b'-' => (-1.0, &rest[1..]),
                _ if terms.is_empty() => (1.0, rest),
                _ => return bad(format!("expected + or - before `{rest}`")),
            };
            // A term ends at the next + or - that is not an exponent sign.
            let bytes = body.as_bytes();
            let mut end = body.len();
            for i in 1..bytes.len() {
                if (bytes[i] == b'+' || bytes[i] == b'-')
                    && !(bytes[i - 1] == b'e' && bytes[..i - 1].iter().all(|b| b.is_ascii_digit() || *b == b'.'))
                {
                    end = i;
                    break;
                }
            }
            let term = &body[..end];
            rest = &body[end..];
            if term.is_empty() {
                return bad("a term is missing".into());
            }
            let mut weight = sign;
            let mut name = None;
            for factor in term.split('*') {
                if let Ok(w) = factor.parse::<f64>() {
                    weight *= w;
                } else if let Some(n) = crate::filter::Numeric::from_name(factor) {
                    if name.replace(n).is_some() {
                        return bad(format!("`{term}` multiplies two properties"));
                    }
                } else {
                    let known: Vec<&str> = crate::filter::Numeric::ALL.iter().map(|n| n.name()).collect();
                    return bad(format!("unknown property `{factor}` (known: {})", known.join(", ")));
                }
            }
            terms.push((weight, name));
        }
        Ok(Objective { terms, text: text.to_string() })
    }

    fn uses(&self, n: crate::filter::Numeric) -> bool {
        self.terms.iter().any(|(_, name)| *name == Some(n))
    }

    /// The weighted sum, or `None` when a property it needs is missing.
    fn eval(&self, row: &dyn PropertySource) -> Option<f64> {
        self.terms.iter().try_fold(0.0, |acc, (w, name)| match name {
            Some(n) => row.number(*n).map(|v| acc + w * v),
            None => Some(acc + w),
        })
    }
}

/// One scored sample of a step.
struct Candidate {
    smiles: String,
    scored: Scored,
    /// The objective's value (0 for invalid molecules and failed hard constraints).
    score: f64,
    /// `score`, or 0 when the diversity filter stopped rewarding the molecule's scaffold: what the agent learns from.
    reward: f64,
    sim_ref: Option<f64>,
    meets: bool,
    nll: f64,
}

pub(crate) fn run(ctx: &Ctx, args: OptimizeArgs) -> Result<()> {
    if let Some(n) = ctx.global.threads {
        tch::set_num_threads(n as i32);
    }
    let device = super::embed::parse_device(&args.device)?;
    let objective = Objective::parse(&args.objective)?;
    let filter =
        args.filter.as_deref().map(Filter::parse).transpose().map_err(|e| crate::exit::BadInput(e.to_string()))?;
    if !(0.0..=1.0).contains(&args.keep) || args.keep == 0.0 {
        bad_input!("--keep {}: the fraction of each step's samples learned from must be in (0, 1]", args.keep);
    }
    if args.batch_size < 2 || args.steps == 0 {
        bad_input!("--batch-size must be at least 2 and --steps at least 1");
    }
    let reference = match &args.similar_to {
        Some(smiles) => {
            let mol = Molecule::from_smiles(smiles).map_err(|e| {
                crate::exit::BadInput(format!("--similar-to {smiles}: not a valid molecule: {}", e.reason()))
            })?;
            Some(
                mol.try_morgan_fingerprint(FP_RADIUS, FP_BITS)
                    .map_err(|e| crate::exit::BadInput(format!("--similar-to {smiles}: {}", e.reason())))?,
            )
        }
        None => None,
    };
    let needs_ref = objective.uses(crate::filter::Numeric::SimRef)
        || filter.as_ref().is_some_and(|f| f.numerics().contains(&crate::filter::Numeric::SimRef));
    if needs_ref && reference.is_none() {
        bad_input!("sim_ref (similarity to a reference) needs --similar-to SMILES");
    }
    if args.min_similarity.is_some() && reference.is_none() {
        bad_input!("--min-similarity needs --similar-to SMILES");
    }
    let generator = Generator::load(&args.model, device)?;
    tch::manual_seed(args.seed as i64);
    let prior = generator.model;
    let mut agent = SmilesGpt::load(&generator.path, device, Kind::Float)?;
    let mut opt = nn::Adam::default().build(agent.var_store_mut(), args.lr)?;
    let tokenizer = generator.tokenizer;
    let bos = tokenizer.bos_id().expect("SMILES vocabularies have <bos>") as i64;
    let eos = tokenizer.eos_id().expect("SMILES vocabularies have <eos>") as i64;
    let pad = tokenizer.pad_id().expect("SMILES vocabularies have <pad>") as i64;

    let options = SamplingOptions {
        temperature: 1.0,
        top_k: None,
        top_p: None,
        max_length: args.max_length,
        batch_size: args.batch_size,
        seed: args.seed,
        use_cache: true,
    };
    let bar = ctx.progress.steps(args.steps);
    let started = Instant::now();
    let mut scaffold_hits: HashMap<String, u32> = HashMap::new();
    let mut best: HashMap<String, (f64, u64, Candidate)> = HashMap::new();
    let mut steps_rows: Vec<serde_json::Value> = Vec::new();
    for step in 0..args.steps {
        // Sample with the agent's current weights (the stream continues across steps, so steps differ).
        let first = step * args.batch_size as u64;
        let samples = agent.sample_range(first, args.batch_size, &options)?;
        let smiles: Vec<String> =
            samples.iter().map(|s| tokenizer.decode(&s.tokens)).collect::<std::result::Result<_, _>>()?;
        let mut candidates: Vec<Candidate> = smiles
            .par_iter()
            .zip(samples.par_iter())
            .map(|(smi, s)| {
                let scored = if s.finished { Scored::new(smi, true) } else { Scored::default() };
                let sim_ref = match (&reference, &scored.fingerprint) {
                    (Some(r), Some(fp)) => Some(r.tanimoto(fp)),
                    _ => None,
                };
                let row = FilterRow {
                    scored: &scored,
                    nll: Some(s.nll),
                    finished: Some(s.finished),
                    novel: None,
                    similarity: None,
                    sim_ref,
                };
                let meets_filter = filter.as_ref().is_none_or(|f| f.eval(&row));
                let raw = if scored.valid && meets_filter { objective.eval(&row).unwrap_or(0.0) } else { 0.0 };
                let (factor, meets_sim) = match (args.min_similarity, sim_ref) {
                    (Some(d), Some(s)) => ((s / d).min(1.0), s >= d),
                    (Some(_), None) => (0.0, false),
                    (None, _) => (1.0, true),
                };
                Candidate {
                    smiles: smi.clone(),
                    score: raw * factor,
                    reward: raw * factor,
                    meets: scored.valid && meets_filter && meets_sim,
                    sim_ref,
                    nll: s.nll,
                    scored,
                }
            })
            .collect();
        // Diversity filter: a scaffold that already gave `bucket` good molecules scores 0 from now on.
        for c in &mut candidates {
            let Some(scaffold) = c.scored.scaffold.clone() else { continue };
            if c.score >= args.scaffold_threshold {
                let hits = scaffold_hits.entry(scaffold).or_default();
                if *hits >= args.scaffold_bucket {
                    c.reward = 0.0;
                } else {
                    *hits += 1;
                }
            }
        }
        let valid = candidates.iter().filter(|c| c.scored.valid).count();
        let scores: Vec<f64> = candidates.iter().filter(|c| c.scored.valid).map(|c| c.score).collect();
        let mean_score = candidates.iter().map(|c| c.score).sum::<f64>() / candidates.len() as f64;
        let mean_qed = mean(candidates.iter().filter_map(|c| c.scored.props.as_ref().map(|p| p.qed)));
        let mean_sim = mean(candidates.iter().filter_map(|c| c.sim_ref));
        let meets = candidates.iter().filter(|c| c.meets).count();
        let unique_step: HashSet<&str> = candidates.iter().filter_map(|c| c.scored.canonical.as_deref()).collect();
        let unique_frac = unique_step.len() as f64 / valid.max(1) as f64;

        // Hill-climb: learn from the top fraction by score.
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| candidates[b].reward.total_cmp(&candidates[a].reward).then(a.cmp(&b)));
        let keep = ((candidates.len() as f64 * args.keep).ceil() as usize).max(1);
        let kept: Vec<usize> = order.into_iter().take(keep).filter(|&i| samples[i].finished).collect();
        let mut loss_value = f64::NAN;
        if !kept.is_empty() {
            let width = kept.iter().map(|&i| samples[i].tokens.len()).max().unwrap_or(0) as i64 + 2;
            let mut ids = vec![pad; kept.len() * width as usize];
            let mut mask = vec![0i64; kept.len() * width as usize];
            for (row, &i) in kept.iter().enumerate() {
                let at = row * width as usize;
                let toks = &samples[i].tokens;
                ids[at] = bos;
                for (j, &t) in toks.iter().enumerate() {
                    ids[at + 1 + j] = i64::from(t);
                }
                ids[at + 1 + toks.len()] = eos;
                mask[at..at + toks.len() + 2].fill(1);
            }
            let shape = [kept.len() as i64, width];
            let ids = Tensor::from_slice(&ids).view(shape).to_device(device);
            let mask = Tensor::from_slice(&mask).view(shape).to_device(device);
            let prior_nll = prior.nll(&ids, &mask)?;
            let agent_nll = agent.nll_t(&ids, &mask, false)?;
            let score = Tensor::from_slice(&kept.iter().map(|&i| candidates[i].reward as f32).collect::<Vec<f32>>())
                .to_device(device);
            let augmented = -prior_nll + score * args.sigma;
            let loss = (augmented - (-agent_nll)).square().mean(Kind::Float);
            opt.backward_step_clip_norm(&loss, 10.0);
            loss_value = loss.double_value(&[]);
        }

        for c in candidates {
            let Some(canonical) = c.scored.canonical.clone() else { continue };
            let entry = best.entry(canonical);
            match entry {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    if c.score > e.get().0 {
                        e.insert((c.score, step, c));
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert((c.score, step, c));
                }
            }
        }
        let mut top = scores;
        top.sort_by(|a, b| b.total_cmp(a));
        steps_rows.push(json!({
            "step": step + 1,
            "valid": valid as f64 / args.batch_size as f64,
            "unique": unique_frac,
            "mean_score": mean_score,
            "top10_score": mean(top.iter().take(10).copied()),
            "mean_qed": mean_qed,
            "mean_sim_ref": mean_sim,
            "meets_constraints": meets as f64 / args.batch_size as f64,
            "loss": loss_value,
            "scaffolds_full": scaffold_hits.values().filter(|&&h| h >= args.scaffold_bucket).count(),
        }));
        bar.set_position(step + 1);
        bar.set_message(format!("mean score {mean_score:.3}, valid {:.2}", valid as f64 / args.batch_size as f64));
    }
    bar.finish_and_clear();

    // The best unique molecules over the run.
    let molecules_seen = best.len();
    let mut ranked: Vec<(f64, u64, Candidate)> = best.into_values().collect();
    ranked.sort_by(|a, b| b.2.meets.cmp(&a.2.meets).then(b.0.total_cmp(&a.0)).then(a.2.smiles.cmp(&b.2.smiles)));
    ranked.truncate(args.top);
    let mut out = TableOut::new(&args.output, "optimize", &generator.path)
        .with_metadata("biotorch.objective", objective.text.clone())
        .with_metadata("biotorch.filter", filter.as_ref().map(|f| f.to_string()).unwrap_or_default())
        .with_metadata("biotorch.similar_to", args.similar_to.clone().unwrap_or_default());
    let rows: Vec<&Scored> = ranked.iter().map(|r| &r.2.scored).collect();
    let mut columns = vec![
        Column::new("rank".into(), (1..=ranked.len() as u32).collect::<Vec<_>>()),
        Column::new("smiles".into(), ranked.iter().map(|r| r.2.smiles.as_str()).collect::<Vec<_>>()),
        Column::new("score".into(), ranked.iter().map(|r| r.0).collect::<Vec<_>>()),
        Column::new("meets_constraints".into(), ranked.iter().map(|r| r.2.meets).collect::<Vec<_>>()),
        Column::new("step".into(), ranked.iter().map(|r| r.1 + 1).collect::<Vec<_>>()),
        Column::new("sim_ref".into(), ranked.iter().map(|r| r.2.sim_ref).collect::<Vec<_>>()),
        Column::new("nll".into(), ranked.iter().map(|r| r.2.nll).collect::<Vec<_>>()),
    ];
    columns.extend(property_columns(&rows));
    out.write(DataFrame::new(ranked.len(), columns)?)?;
    let (path, _) = out.finish()?;

    let steps_path = args.steps_output.clone().unwrap_or_else(|| sibling(&args.output, "steps.parquet"));
    let col = |key: &str| -> Vec<Option<f64>> { steps_rows.iter().map(|r| r[key].as_f64()).collect() };
    let keys =
        ["valid", "unique", "mean_score", "top10_score", "mean_qed", "mean_sim_ref", "meets_constraints", "loss"];
    let mut step_cols = vec![Column::new("step".into(), (1..=steps_rows.len() as u64).collect::<Vec<_>>())];
    step_cols.extend(keys.iter().map(|k| Column::new((*k).into(), col(k))));
    let mut df = DataFrame::new(steps_rows.len(), step_cols)?;
    biotorch_io::write_parquet(&steps_path, &mut df, vec![])?;
    let plot_path = args.plot.clone().unwrap_or_else(|| sibling(&args.output, "steps.png"));
    let series = |key: &str| -> Vec<(f64, f64)> {
        steps_rows.iter().filter_map(|r| Some((r["step"].as_f64()?, r[key].as_f64()?))).collect()
    };
    let mut panels = vec![
        ("score", vec![("mean", series("mean_score")), ("top 10", series("top10_score"))]),
        (
            "fraction",
            vec![
                ("valid", series("valid")),
                ("unique", series("unique")),
                ("meets constraints", series("meets_constraints")),
            ],
        ),
        ("QED", vec![("mean", series("mean_qed"))]),
    ];
    if reference.is_some() {
        panels.push(("similarity to reference", vec![("mean", series("mean_sim_ref"))]));
    }
    crate::plot::step_lines(&plot_path, &format!("optimize: {}", objective.text), &panels)
        .with_context(|| format!("cannot draw {}", plot_path.display()))?;

    let first = &steps_rows[0];
    let last = &steps_rows[steps_rows.len() - 1];
    let best_score = ranked.first().map(|r| r.0);
    let meeting = ranked.iter().filter(|r| r.2.meets).count();
    ctx.info(format!(
        "{} steps of {} samples in {:.1} s: mean score {:.3} -> {:.3}, mean QED {:.3} -> {:.3}, valid {:.2} -> {:.2}; \
         best score {}; {meeting} of the top {} meet the constraints\nwrote {}, {} and {}",
        args.steps,
        args.batch_size,
        started.elapsed().as_secs_f64(),
        first["mean_score"].as_f64().unwrap_or(f64::NAN),
        last["mean_score"].as_f64().unwrap_or(f64::NAN),
        first["mean_qed"].as_f64().unwrap_or(f64::NAN),
        last["mean_qed"].as_f64().unwrap_or(f64::NAN),
        first["valid"].as_f64().unwrap_or(f64::NAN),
        last["valid"].as_f64().unwrap_or(f64::NAN),
        best_score.map_or("-".into(), |s| format!("{s:.4}")),
        ranked.len(),
        path.display(),
        steps_path.display(),
        plot_path.display()
    ));
    ctx.write_summary(&json!({
        "output": path.display().to_string(),
        "objective": objective.text,
        "steps": steps_rows,
        "best_score": best_score,
        "top": ranked.iter().take(10).map(|r| json!({
            "smiles": r.2.scored.canonical, "score": r.0, "qed": r.2.scored.props.as_ref().map(|p| p.qed),
            "sim_ref": r.2.sim_ref, "meets_constraints": r.2.meets,
        })).collect::<Vec<_>>(),
        "molecules_seen": molecules_seen,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// `best.parquet` → `best.<suffix>` in the same folder.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "optimize".into());
    path.with_file_name(format!("{stem}.{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(f64, f64);
    impl PropertySource for Row {
        fn number(&self, p: crate::filter::Numeric) -> Option<f64> {
            match p {
                crate::filter::Numeric::Qed => Some(self.0),
                crate::filter::Numeric::Sa => Some(self.1),
                _ => None,
            }
        }
        fn flag(&self, _: crate::filter::Flag) -> Option<bool> {
            None
        }
    }

    #[test]
    fn objectives_are_weighted_sums() {
        let o = Objective::parse("qed - 0.1*sa + 2").unwrap();
        assert!((o.eval(&Row(0.5, 3.0)).unwrap() - (0.5 - 0.3 + 2.0)).abs() < 1e-12);
        let o = Objective::parse("-qed*2 + 1e-1 * SA").unwrap();
        assert!((o.eval(&Row(0.5, 3.0)).unwrap() - (-1.0 + 0.3)).abs() < 1e-12);
        assert_eq!(Objective::parse("qed + logp").unwrap().eval(&Row(0.5, 3.0)), None, "logp is missing");
        for (bad, why) in
            [("", "empty"), ("qed +", "missing"), ("qed*sa", "two properties"), ("qed + mww", "unknown property `mww`")]
        {
            let e = Objective::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
