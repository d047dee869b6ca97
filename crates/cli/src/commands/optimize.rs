//! `biotorch optimize`: steers a SMILES decoder toward a score by augmented hill-climb reinforcement learning, through
//! the design engine (`biotorch_design::optimize`, which documents the method). This command turns the arguments
//! into a request, shows the steps on a progress bar, and writes the best unique molecules (`-o`), the per-step
//! metrics table and their plot.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use biotorch_design::{table, Event, Filter, Generator, Objective, OptimizeRequest, StepMetrics};
use biotorch_io::dataset::keys;
use clap::Args;
use serde_json::json;

use crate::args::{positive, positive_u64, DeviceArg, HeadsArg, ModelArg};
use crate::ctx::Ctx;
use crate::grid::GridArgs;

#[derive(Debug, Args)]
pub(crate) struct OptimizeArgs {
    /// The SMILES decoder to start from (the prior), e.g. the bundled smiles-small.
    #[command(flatten)]
    pub(crate) model: ModelArg,
    /// The score to maximize: arithmetic on properties (+ - * / and parentheses), e.g. "qed - 0.1*sa + 0.5*sim_ref"
    /// (names as in --filter; sim_ref is the Tanimoto similarity to --similar-to); count("SMARTS") is a molecule's
    /// number of unique substructure matches, e.g. "qed + 0.2*count('[OX2H]')".
    #[arg(long, value_name = "EXPR")]
    pub(crate) objective: String,
    /// A reference molecule for sim_ref and --min-similarity (Morgan radius 2, 2048 bits, Tanimoto).
    #[arg(long, value_name = "SMILES")]
    pub(crate) similar_to: Option<String>,
    /// Reference molecules, e.g. a series: a SMILES, CSV/TSV, Parquet or SD file (the SMILES from
    /// --similar-to-column, else the column `smiles`); sim_ref is then the greatest similarity to any of them (and to
    /// --similar-to, with both).
    #[arg(long, value_name = "FILE")]
    pub(crate) similar_to_file: Option<PathBuf>,
    /// The column of --similar-to-file that holds the SMILES.
    #[arg(long, value_name = "NAME", requires = "similar_to_file")]
    pub(crate) similar_to_column: Option<String>,
    /// Decorate a scaffold with one or more attachment points (`*` or `[*:1]`, e.g. "O=C(N[*:1])c1ccc([*:2])cc1"):
    /// every sample is drawn through it (as generate --scaffold), and a molecule that does not contain it scores 0
    /// and does not meet the constraints; the output gets a column contains_scaffold.
    #[arg(long, value_name = "SMILES")]
    pub(crate) scaffold: Option<String>,
    /// Molecules less similar than this to --similar-to have their score scaled by similarity / this, and do not
    /// meet the constraints.
    #[arg(long, value_name = "S")]
    pub(crate) min_similarity: Option<f64>,
    /// A hard constraint: molecules not meeting it score 0 (same syntax as generate --filter, SMARTS included:
    /// "not matches('[N+](=O)[O-]')"; heads' names too, e.g. "logs > -4").
    #[arg(long, value_name = "EXPR")]
    pub(crate) filter: Option<String>,
    /// Reinforcement-learning steps.
    #[arg(long, default_value_t = OptimizeRequest::STEPS, value_name = "N", value_parser = positive_u64)]
    pub(crate) steps: u64,
    /// Molecules sampled per step.
    #[arg(long, default_value_t = OptimizeRequest::BATCH_SIZE, value_name = "N", value_parser = positive)]
    pub(crate) batch_size: usize,
    /// Fraction of each step's samples, the best by score, that the agent learns from (augmented hill-climb).
    #[arg(long, default_value_t = OptimizeRequest::KEEP, value_name = "F")]
    pub(crate) keep: f64,
    /// Weight of the score in the augmented likelihood (REINVENT's sigma).
    #[arg(long, default_value_t = OptimizeRequest::SIGMA, value_name = "SIGMA")]
    pub(crate) sigma: f64,
    /// Adam learning rate of the agent.
    #[arg(long, default_value_t = OptimizeRequest::LR, value_name = "LR")]
    pub(crate) lr: f64,
    /// Diversity filter: after this many molecules scoring at least --scaffold-threshold on one Murcko scaffold,
    /// that scaffold scores 0.
    #[arg(long, default_value_t = OptimizeRequest::SCAFFOLD_BUCKET, value_name = "N")]
    pub(crate) scaffold_bucket: u32,
    /// Diversity filter: the score from which a molecule counts toward its scaffold's bucket.
    #[arg(long, default_value_t = OptimizeRequest::SCAFFOLD_THRESHOLD, value_name = "S")]
    pub(crate) scaffold_threshold: f64,
    /// The most tokens per sample.
    #[arg(long, default_value_t = OptimizeRequest::MAX_LENGTH, value_name = "L")]
    pub(crate) max_length: i64,
    /// Seed of the sampling stream and of the agent's updates.
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub(crate) seed: u64,
    /// How many of the best unique molecules to write.
    #[arg(long, default_value_t = OptimizeRequest::TOP, value_name = "N", value_parser = positive)]
    pub(crate) top: usize,
    /// Output table: the best unique molecules with their scores and properties. Parquet, or by its extension CSV/TSV
    /// or an SD file (`.sdf`: a record per molecule with 2D coordinates, every column a data item).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// Per-step metrics table [default: OUTPUT with .steps.parquet].
    #[arg(long, value_name = "FILE")]
    pub(crate) steps_output: Option<PathBuf>,
    /// Per-step metrics plot, PNG or SVG [default: OUTPUT with .steps.png].
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) heads: HeadsArg,
    #[command(flatten)]
    pub(crate) grid: GridArgs,
    #[command(flatten)]
    pub(crate) device: DeviceArg,
}

/// Said when the first step's mean score is negative. Invalid molecules and those failing --filter score 0, so a
/// mostly negative objective ranks them above valid ones, and the augmented likelihood (prior log-likelihood plus
/// sigma times the score) expects scores of order [0, 1], as REINVENT's are: measured in docs/benchmarks.md ("The
/// score must be positive"), where such a run's validity fell from 0.92 to 0.61 in 6 steps.
const NEGATIVE_OBJECTIVE: &str = "the objective's mean over the first step's samples is negative: invalid molecules \
    and those failing --filter score 0, so they outrank the valid ones, and the agent drifts toward invalid SMILES; \
    shift and scale the objective to about [0, 1] (e.g. \"(logs + 10)/10\" for a logS head)";

pub(crate) fn run(ctx: &Ctx, args: OptimizeArgs) -> Result<()> {
    let plot_path = args.plot.clone().unwrap_or_else(|| sibling(&args.output, "steps.png"));
    crate::plot::check(Some(&plot_path))?;
    args.grid.check()?;
    let device = args.device.one()?;
    // Heads' descriptions first: their names are variables of the expressions, checked before any model loads.
    let mut heads = args.heads.open()?;
    let vars = heads.variables().clone();
    let request = OptimizeRequest {
        objective: Objective::parse_in(&args.objective, &vars)?,
        filter: args.filter.as_deref().map(|f| Filter::parse_in(f, &vars)).transpose()?,
        similar_to: args.similar_to.clone(),
        similar_to_set: match &args.similar_to_file {
            Some(path) => biotorch_design::read_series(path, args.similar_to_column.as_deref())?,
            None => Vec::new(),
        },
        scaffold: args.scaffold.clone(),
        min_similarity: args.min_similarity,
        steps: args.steps,
        batch_size: args.batch_size,
        keep: args.keep,
        sigma: args.sigma,
        lr: args.lr,
        scaffold_bucket: args.scaffold_bucket,
        scaffold_threshold: args.scaffold_threshold,
        max_length: args.max_length,
        seed: args.seed,
        top: args.top,
    };
    request.validate()?;
    let (weights, dir) = args.model.paths()?;
    let generator = Generator::load(&format!("--model {}", args.model.model), &weights, &dir, device)?;
    let model_path = generator.path.clone();
    heads.load(device, &crate::args::resolver())?;

    let bar = ctx.progress.steps(args.steps);
    let started = Instant::now();
    let on_step = &mut |Event::Step(m): Event<'_>| {
        if m.step == 1 && m.mean_score < 0.0 {
            bar.suspend(|| ctx.warn(NEGATIVE_OBJECTIVE));
        }
        bar.set_position(m.step);
        bar.set_message(format!("mean score {:.3}, valid {:.2}", m.mean_score, m.valid));
    };
    let result = biotorch_design::optimize_with_heads(&generator, &request, &mut heads, on_step, &|| false)?;
    bar.finish_and_clear();

    let best = &result.best;
    let mut out = ctx
        .table(&args.output, "optimize", &model_path)
        .with_metadata(keys::OBJECTIVE, request.objective.text().to_string())
        .with_metadata(keys::FILTER, request.filter.as_ref().map(|f| f.to_string()).unwrap_or_default())
        .with_metadata(keys::SIMILAR_TO, similar_to_text(&args))
        .with_metadata(keys::HEADS, heads.describe());
    out.write(table::best_molecules_with(best, heads.columns(), result.scaffold.is_some())?)?;
    let (path, _) = out.finish()?;

    let steps_path = args.steps_output.clone().unwrap_or_else(|| sibling(&args.output, "steps.parquet"));
    biotorch_io::write_parquet(&steps_path, &mut table::steps(&result.steps)?, vec![])?;
    let series = |f: &dyn Fn(&StepMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        result.steps.iter().filter_map(|s| Some((s.step as f64, f(s).filter(|v| v.is_finite())?))).collect()
    };
    let mut panels = vec![
        ("score", vec![("mean", series(&|s| Some(s.mean_score))), ("top 10", series(&|s| s.top10_score))]),
        (
            "fraction",
            vec![
                ("valid", series(&|s| Some(s.valid))),
                ("unique", series(&|s| Some(s.unique))),
                ("meets constraints", series(&|s| Some(s.meets_constraints))),
            ],
        ),
        ("QED", vec![("mean", series(&|s| s.mean_qed))]),
    ];
    if !request.similar_to_set.is_empty() || args.similar_to.is_some() {
        panels.push(("similarity to reference", vec![("mean", series(&|s| s.mean_sim_ref))]));
    }
    crate::plot::step_lines(&plot_path, &format!("optimize: {}", request.objective.text()), &panels)
        .with_context(|| format!("cannot draw {}", plot_path.display()))?;

    let (first, last) = (&result.steps[0], &result.steps[result.steps.len() - 1]);
    let na = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let best_score = best.first().map(|c| c.score);
    let meeting = best.iter().filter(|c| c.meets).count();
    ctx.info(format!(
        "{} steps of {} samples in {:.1} s: mean score {:.3} -> {:.3}, mean QED {:.3} -> {:.3}, valid {:.2} -> {:.2}; \
         best score {}; {meeting} of the top {} meet the constraints\nwrote {}, {} and {}",
        args.steps,
        args.batch_size,
        started.elapsed().as_secs_f64(),
        first.mean_score,
        last.mean_score,
        na(first.mean_qed),
        na(last.mean_qed),
        first.valid,
        last.valid,
        best_score.map_or("-".into(), |s| format!("{s:.4}")),
        best.len(),
        path.display(),
        steps_path.display(),
        plot_path.display()
    ));
    if let Some(s) = &result.scaffold {
        ctx.info(format!(
            "scaffold {} ({} attachment point(s), drawn through {}): {} of {} valid samples contain it",
            s.scaffold.canonical, s.scaffold.points, s.scaffold.prefix_smiles, s.contained, s.valid
        ));
    }
    args.grid.draw(ctx, &path)?;
    ctx.write_summary(&json!({
        "output": path.display().to_string(),
        "objective": request.objective.text(),
        "steps": result.steps,
        "best_score": best_score,
        "top": best.iter().take(10).map(|c| json!({
            "smiles": c.molecule.canonical, "score": c.score, "qed": c.molecule.props.as_ref().map(|p| p.qed),
            "sim_ref": c.sim_ref, "meets_constraints": c.meets,
        })).collect::<Vec<_>>(),
        "molecules_seen": result.molecules_seen,
        "similar_to_file": args.similar_to_file.as_ref().map(|p| json!({
            "path": p.display().to_string(), "molecules": request.similar_to_set.len(),
        })),
        "scaffold": result.scaffold.as_ref().map(|s| json!({
            "smiles": s.scaffold.canonical,
            "attachment_points": s.scaffold.points,
            "writing": s.scaffold.prefix_smiles,
            "valid": s.valid,
            "contained": s.contained,
            "containment": s.contained as f64 / s.valid.max(1) as f64,
        })),
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

/// What the output's metadata says the similarity was to: the SMILES, the file, or both.
fn similar_to_text(args: &OptimizeArgs) -> String {
    let file = args.similar_to_file.as_ref().map(|p| format!("file {}", p.display()));
    [args.similar_to.clone(), file].into_iter().flatten().collect::<Vec<_>>().join(" and ")
}

/// `best.parquet` → `best.<suffix>` in the same folder.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "optimize".into());
    path.with_file_name(format!("{stem}.{suffix}"))
}
