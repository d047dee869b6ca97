//! `embed --plot`: a 2-D PCA scatter of the embeddings (the `embedding` column), coloured by a label column.
//! At most [`MAX_POINTS`] rows (the first ones) are plotted, so memory stays bounded on big outputs. The PCA is
//! computed here (libtorch's `eigh`); the figure is [`biotorch_plot::class_scatter`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use biotorch_io::polars::prelude::*;
use tch::{Kind, Tensor};

use crate::ctx::Ctx;

const MAX_POINTS: usize = 20_000;

/// Reads `id -> label` from a CSV/TSV with an `id` column (or the first column) and `label_column`.
fn read_labels(path: &Path, label_column: &str) -> Result<HashMap<String, String>> {
    let delimiter = if biotorch_io::content_extension(path) == "tsv" { b'\t' } else { b',' };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .map_err(|e| crate::exit::BadInput(format!("--labels {}: cannot read it ({e})", path.display())))?;
    let headers = reader.headers()?.clone();
    let find = |name: &str| headers.iter().position(|h| h == name);
    let id = find("id").unwrap_or(0);
    let Some(label) = find(label_column) else {
        crate::exit::bad_input!(
            "{}: no column named '{label_column}' (columns: {})",
            path.display(),
            headers.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let mut labels = HashMap::new();
    for row in reader.records() {
        let row = row.with_context(|| format!("cannot read {}", path.display()))?;
        labels.insert(row[id].to_string(), row[label].to_string());
    }
    Ok(labels)
}

/// The first label word of a FASTA id like `sp|P12345|NAME_HUMAN` matched against label ids (`NAME_HUMAN`, `P12345`).
fn lookup<'a>(labels: &'a HashMap<String, String>, id: &str) -> Option<&'a String> {
    labels.get(id).or_else(|| id.split('|').rev().find_map(|part| labels.get(part)))
}

/// `--plot`, `--labels` and `--label-column`, checked and read before the work (the figure's path, the labels file
/// and its column), so that a mistake in them costs nothing.
pub(crate) struct PcaPlot {
    path: PathBuf,
    labels: Option<HashMap<String, String>>,
}

impl PcaPlot {
    /// `None` when no plot is asked for.
    pub(crate) fn prepare(
        plot: Option<&Path>,
        labels: Option<&Path>,
        label_column: Option<&str>,
    ) -> Result<Option<PcaPlot>> {
        let Some(plot) = plot else {
            if labels.is_some() || label_column.is_some() {
                crate::exit::bad_input!(
                    "--labels and --label-column colour the figure of --plot FILE, which is missing"
                );
            }
            return Ok(None);
        };
        biotorch_plot::check_path(plot).map_err(crate::plot::plot_error)?;
        let labels = match (labels, label_column) {
            (Some(p), Some(c)) => Some(read_labels(p, c)?),
            (Some(p), None) => Some(read_labels(p, "label")?),
            (None, Some(_)) => crate::exit::bad_input!("--label-column needs --labels FILE"),
            (None, None) => None,
        };
        Ok(Some(PcaPlot { path: plot.to_path_buf(), labels }))
    }

    /// Draws the PCA of `parquet`'s `embedding` column.
    pub(crate) fn draw(&self, ctx: &Ctx, parquet: &Path) -> Result<()> {
        plot_embeddings(ctx, parquet, &self.path, self.labels.as_ref())
    }
}

fn plot_embeddings(ctx: &Ctx, parquet: &Path, plot: &Path, labels: Option<&HashMap<String, String>>) -> Result<()> {
    let total_rows = ParquetReader::new(std::fs::File::open(parquet)?).num_rows()?;
    let df = ParquetReader::new(std::fs::File::open(parquet)?)
        .with_columns(Some(vec!["id".into(), "embedding".into()]))
        .with_slice(Some((0, MAX_POINTS)))
        .finish()?;
    let n = df.height();
    let emb = df.column("embedding")?.array()?.clone();
    let dim = emb.width();
    let values: Vec<f32> = emb.get_inner().f32()?.into_no_null_iter().collect();
    let x = Tensor::from_slice(&values).view([n as i64, dim as i64]).to_kind(Kind::Double);
    let x = &x - x.mean_dim(0, true, Kind::Double);
    // Principal axes = eigenvectors of the covariance (D x D, small), largest eigenvalues last.
    let cov = x.transpose(0, 1).matmul(&x) / ((n.max(2) - 1) as f64);
    let (eigenvalues, eigenvectors) = Tensor::linalg_eigh(&cov, "L");
    let k = 2.min(n as i64).min(dim as i64);
    let top = Tensor::arange_start_step(dim as i64 - 1, dim as i64 - 1 - k, -1, (Kind::Int64, tch::Device::Cpu));
    let coords = x.matmul(&eigenvectors.index_select(1, &top));
    let total = f64::try_from(eigenvalues.clamp_min(0.0).sum(Kind::Double)).unwrap_or(1.0).max(f64::MIN_POSITIVE);
    let explained: Vec<f64> =
        (0..k).map(|i| f64::try_from(eigenvalues.get(dim as i64 - 1 - i)).unwrap_or(0.0) / total).collect();
    let coords: Vec<f64> = Vec::<f64>::try_from(coords.contiguous().view(-1))?;
    let point = |i: usize| (coords[i * k as usize], if k > 1 { coords[i * k as usize + 1] } else { 0.0 });

    let ids = df.column("id")?.str()?.clone();
    let classes: Vec<String> = (0..n)
        .map(|i| match labels {
            Some(l) => ids
                .get(i)
                .and_then(|id| lookup(l, id))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(|s| {
                    if s.chars().count() > 40 {
                        format!("{}...", s.chars().take(40).collect::<String>())
                    } else {
                        s.to_string()
                    }
                })
                .unwrap_or_else(|| "(no label)".into()),
            None => "all".into(),
        })
        .collect();
    let title = format!(
        "PCA of {} ({} of {} rows)",
        parquet.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        n,
        total_rows
    );
    let axes = (
        format!("PC1 ({:.1}% of variance)", 100.0 * explained.first().copied().unwrap_or(0.0)),
        format!("PC2 ({:.1}% of variance)", 100.0 * explained.get(1).copied().unwrap_or(0.0)),
    );
    let points: Vec<(f64, f64)> = (0..n).map(point).collect();
    biotorch_plot::class_scatter(plot, &points, &classes, &title, (&axes.0, &axes.1))
        .map_err(crate::plot::plot_error)?;
    ctx.info(format!(
        "wrote {} (PCA of {n} of {total_rows} embeddings; PC1 {:.1}%, PC2 {:.1}% of variance)",
        plot.display(),
        100.0 * explained.first().copied().unwrap_or(0.0),
        100.0 * explained.get(1).copied().unwrap_or(0.0)
    ));
    Ok(())
}
