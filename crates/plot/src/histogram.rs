//! Histograms: exact integer counts (sequence lengths, heavy atoms) and densities of real values over a fixed range
//! (molecular properties), optionally over those of a reference set.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::error::Result;
use crate::render::{fail, render, Area, Drawn, BLUE, ORANGE};

/// At most this many bars in [`histogram`].
pub const MAX_BINS: u32 = 60;

/// Draws a histogram of integer values given as exact counts (value -> count), with at most [`MAX_BINS`] bars of
/// equal width; the y axis counts records.
pub fn histogram(path: &Path, counts: &BTreeMap<u32, u64>, title: &str, x_label: &str) -> Result<()> {
    render(
        path,
        (900, 560),
        |root| draw_counts(root, counts, title, x_label),
        |root| draw_counts(root, counts, title, x_label),
    )
}

fn draw_counts<DB: DrawingBackend>(root: Area<DB>, counts: &BTreeMap<u32, u64>, title: &str, x_label: &str) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let (lo, hi) = match (counts.keys().next(), counts.keys().next_back()) {
        (Some(&lo), Some(&hi)) => (lo, hi),
        _ => (0, 1),
    };
    let width = ((hi - lo) / MAX_BINS + 1).max(1);
    let mut bins: BTreeMap<u32, u64> = BTreeMap::new();
    for (&v, &c) in counts {
        *bins.entry(lo + (v - lo) / width * width).or_default() += c;
    }
    let ymax = bins.values().copied().max().unwrap_or(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..(hi + width), 0u64..(ymax + ymax / 10 + 1))
        .map_err(fail)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("records")
        .label_style(("sans-serif", 14))
        .disable_x_mesh()
        .draw()
        .map_err(fail)?;
    chart
        .draw_series(bins.iter().map(|(&start, &c)| Rectangle::new([(start, 0), (start + width, c)], BLUE.filled())))
        .map_err(fail)?;
    root.present().map_err(fail)
}

/// One panel of [`distributions`]: the values of one property, and optionally those of the reference set.
#[derive(Debug, Clone, Copy)]
pub struct Distribution<'a> {
    /// The panel's caption (the property).
    pub name: &'a str,
    /// The x range, split into [`DENSITY_BINS`] bins; values outside it count in the first or last bin.
    pub range: (f64, f64),
    /// The values drawn in blue.
    pub values: &'a [f64],
    /// The reference values drawn in orange underneath, when given.
    pub reference: Option<&'a [f64]>,
}

/// Bins of each [`distributions`] panel.
pub const DENSITY_BINS: usize = 40;

/// Histograms as densities (step lines), one panel per property, two panels a row (1100 x 800 pixels for four):
/// the values labelled `label (n)` in blue over the reference values labelled `reference_label (n)` in orange.
pub fn distributions(path: &Path, label: &str, reference_label: &str, panels: &[Distribution<'_>]) -> Result<()> {
    let rows = panels.len().div_ceil(2).max(1);
    let size = (1100, 400 * rows as u32);
    render(
        path,
        size,
        |root| draw_distributions(root, label, reference_label, panels),
        |root| draw_distributions(root, label, reference_label, panels),
    )
}

fn density(values: &[f64], lo: f64, hi: f64) -> Vec<f64> {
    let mut counts = vec![0f64; DENSITY_BINS];
    for &v in values {
        let b = (((v - lo) / (hi - lo)) * DENSITY_BINS as f64).floor().clamp(0.0, (DENSITY_BINS - 1) as f64) as usize;
        counts[b] += 1.0;
    }
    let total = values.len().max(1) as f64 * (hi - lo) / DENSITY_BINS as f64;
    counts.iter().map(|c| c / total).collect()
}

fn draw_distributions<DB: DrawingBackend>(
    root: Area<DB>,
    label: &str,
    reference_label: &str,
    panels: &[Distribution<'_>],
) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let rows = panels.len().div_ceil(2).max(1);
    for (area, panel) in root.split_evenly((rows, 2)).into_iter().zip(panels) {
        let (lo, hi) = panel.range;
        let g = density(panel.values, lo, hi);
        let t = panel.reference.map(|t| density(t, lo, hi));
        let ymax = g.iter().chain(t.iter().flatten()).copied().fold(0.0, f64::max).max(1e-9) * 1.1;
        let mut chart = ChartBuilder::on(&area)
            .caption(panel.name, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(lo..hi, 0.0..ymax)
            .map_err(fail)?;
        chart
            .configure_mesh()
            .y_desc("density")
            .label_style(("sans-serif", 13))
            .disable_x_mesh()
            .draw()
            .map_err(fail)?;
        let width = (hi - lo) / DENSITY_BINS as f64;
        let steps = |d: &[f64]| -> Vec<(f64, f64)> {
            d.iter()
                .enumerate()
                .flat_map(|(i, &v)| [(lo + i as f64 * width, v), (lo + (i + 1) as f64 * width, v)])
                .collect()
        };
        if let (Some(t), Some(reference)) = (&t, panel.reference) {
            chart
                .draw_series(LineSeries::new(steps(t), ORANGE.stroke_width(2)))
                .map_err(fail)?
                .label(format!("{reference_label} ({})", reference.len()))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ORANGE.stroke_width(2)));
        }
        chart
            .draw_series(LineSeries::new(steps(&g), BLUE.stroke_width(2)))
            .map_err(fail)?
            .label(format!("{label} ({})", panel.values.len()))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(fail)?;
    }
    root.present().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::assert_complete;

    #[test]
    fn histogram_png_and_svg() {
        let counts: BTreeMap<u32, u64> = [(24, 1), (100, 7), (351, 20), (1320, 2)].into_iter().collect();
        for ext in ["png", "svg"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("len.{ext}"));
            histogram(&path, &counts, "lengths (30 records)", "length (residues)").unwrap();
            assert_complete(&path);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.png");
        histogram(&path, &BTreeMap::new(), "nothing", "length").unwrap();
        assert_complete(&path);
    }

    #[test]
    fn distributions_png_and_svg() {
        let values: Vec<f64> = (0..50).map(|i| i as f64 / 50.0).collect();
        let reference: Vec<f64> = (0..80).map(|i| 0.2 + i as f64 / 160.0).collect();
        let panels = [
            Distribution { name: "QED", range: (0.0, 1.0), values: &values, reference: Some(&reference) },
            Distribution { name: "SA score", range: (1.0, 10.0), values: &values, reference: None },
            Distribution { name: "empty", range: (0.0, 1.0), values: &[], reference: None },
        ];
        for ext in ["png", "svg"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("props.{ext}"));
            distributions(&path, "generated", "training", &panels).unwrap();
            assert_complete(&path);
        }
    }

    #[test]
    fn density_integrates_to_one_and_clamps() {
        let d = density(&[-5.0, 0.5, 0.99, 7.0], 0.0, 1.0);
        let area: f64 = d.iter().map(|v| v / DENSITY_BINS as f64).sum();
        assert!((area - 1.0).abs() < 1e-12);
        assert!(d[0] > 0.0 && d[DENSITY_BINS - 1] > 0.0);
    }
}
