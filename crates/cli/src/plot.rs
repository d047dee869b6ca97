//! The CLI's side of the figures (drawn by biotorch-plot): turning its values into plain data, and plot errors into
//! the CLI's errors (an unknown extension or a missing folder is a usage error, exit code 2).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use biotorch_chem::Properties;
use biotorch_plot::Distribution;

/// A plot error as the CLI reports it.
pub(crate) fn plot_error(e: biotorch_plot::Error) -> anyhow::Error {
    if e.is_bad_input() {
        anyhow::Error::new(crate::exit::BadInput(e.to_string()))
    } else {
        anyhow::Error::new(e)
    }
}

/// Checks `--plot FILE` before the work ([`biotorch_plot::check_path`]: known extension, existing folder).
pub(crate) fn check(path: Option<&Path>) -> Result<()> {
    path.map_or(Ok(()), |p| biotorch_plot::check_path(p).map_err(plot_error))
}

/// Draws a histogram of integer values given as exact counts (value -> count) ([`biotorch_plot::histogram`]).
pub(crate) fn histogram(path: &Path, counts: &BTreeMap<u32, u64>, title: &str, x_label: &str) -> Result<()> {
    biotorch_plot::histogram(path, counts, title, x_label).map_err(plot_error)
}

/// Histograms (as densities) of QED, logP, molecular weight and SA score of generated molecules, over those of the
/// training molecules when given: a 2 x 2 grid.
pub(crate) fn property_distributions(
    path: &Path,
    label: &str,
    molecules: &[Properties],
    training: Option<&[Properties]>,
) -> Result<()> {
    type Getter = fn(&Properties) -> f64;
    let properties: [(&str, Getter, (f64, f64)); 4] = [
        ("QED", |p| p.qed, (0.0, 1.0)),
        ("logP (Crippen)", |p| p.logp, (-4.0, 8.0)),
        ("molecular weight", |p| p.mw, (0.0, 700.0)),
        ("SA score", |p| p.sa, (1.0, 10.0)),
    ];
    let values: Vec<(Vec<f64>, Option<Vec<f64>>)> = properties
        .iter()
        .map(|(_, get, _)| (molecules.iter().map(get).collect(), training.map(|t| t.iter().map(get).collect())))
        .collect();
    let panels: Vec<Distribution<'_>> = properties
        .iter()
        .zip(&values)
        .map(|((name, _, range), (values, reference))| Distribution {
            name,
            range: *range,
            values,
            reference: reference.as_deref(),
        })
        .collect();
    biotorch_plot::distributions(path, label, "training", &panels).map_err(plot_error)
}

/// Line plots of per-step values: one panel per metric, each with its named series over the step
/// ([`biotorch_plot::step_lines`]).
pub(crate) fn step_lines(path: &Path, title: &str, panels: &[biotorch_plot::Panel<'_>]) -> Result<()> {
    biotorch_plot::step_lines(path, title, panels).map_err(plot_error)
}
