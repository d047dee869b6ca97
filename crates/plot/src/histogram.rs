//! Histograms: exact integer counts (sequence lengths, heavy atoms) and densities of real values over a fixed range
//! (molecular properties), optionally over those of a reference set.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::error::Result;
use crate::layout::{draw_mesh, frame, frame_with_legend, titled, Axis, Framed, Occupied};
use crate::legend::{Legend, Marker};
use crate::palette::{BLUE, ORANGE};
use crate::render::{fail, render, Area, Drawn};
use crate::units::with_unit;

/// At most this many bars in [`histogram`].
pub const MAX_BINS: u32 = 60;

/// Draws a histogram of integer values given as exact counts (value -> count), with at most [`MAX_BINS`] bars of
/// equal (whole-number) width; the y axis counts records. Both axes have whole-number ticks.
pub fn histogram(path: &Path, counts: &BTreeMap<u32, u64>, title: &str, x_label: &str) -> Result<()> {
    render(
        path,
        (900, 560),
        |root| draw_counts(root, counts, title, x_label),
        |root| draw_counts(root, counts, title, x_label),
    )
}

/// The bars of [`histogram`]: (first value of the bar, count), all bars `width` values wide.
fn bars(counts: &BTreeMap<u32, u64>) -> (Vec<(u32, u64)>, u32) {
    let (lo, hi) = match (counts.keys().next(), counts.keys().next_back()) {
        (Some(&lo), Some(&hi)) => (lo, hi),
        _ => return (Vec::new(), 1),
    };
    let width = ((hi - lo) / MAX_BINS + 1).max(1);
    let mut bins: BTreeMap<u32, u64> = BTreeMap::new();
    for (&v, &c) in counts {
        *bins.entry(lo + (v - lo) / width * width).or_default() += c;
    }
    (bins.into_iter().collect(), width)
}

fn draw_counts<DB: DrawingBackend>(root: Area<DB>, counts: &BTreeMap<u32, u64>, title: &str, x_label: &str) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let area = titled(&root, title, 21.0)?;
    let (bins, width) = bars(counts);
    let lo = bins.first().map_or(0, |b| b.0) as f64;
    let hi = bins.last().map_or(1, |b| b.0 + width) as f64;
    let ymax = bins.iter().map(|b| b.1).max().unwrap_or(1) as f64;
    let x = Axis::new((lo, hi), x_label).integral(true);
    let y = Axis::new((0.0, (ymax * 1.06).max(ymax + 1.0)), "records").integral(true);
    let (mut chart, xt, yt) = frame(&area, &x, &y)?;
    draw_mesh(&mut chart, &x, &y, &(xt, yt))?;
    chart
        .draw_series(bins.iter().map(|&(start, c)| {
            Rectangle::new([(start as f64, 0.0), ((start + width) as f64, c as f64)], BLUE.filled())
        }))
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

/// Histograms as densities (step lines), one panel per property, two panels a row (1100 x 400 pixels a row): the
/// values labelled `label (n)` in blue over the reference values labelled `reference_label (n)` in orange. The x
/// axis names the property with its unit where it has one (molecular weight in Da, TPSA in Å²), and each panel's
/// legend sits where it covers neither curve.
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

/// A density as the corners of its step line.
fn steps(d: &[f64], lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let width = (hi - lo) / DENSITY_BINS as f64;
    d.iter().enumerate().flat_map(|(i, &v)| [(lo + i as f64 * width, v), (lo + (i + 1) as f64 * width, v)]).collect()
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
        let area = area.margin(4, 4, 8, 8);
        let area = titled(&area, panel.name, 18.0)?;
        let (lo, hi) = panel.range;
        let values = steps(&density(panel.values, lo, hi), lo, hi);
        let reference = panel.reference.map(|t| steps(&density(t, lo, hi), lo, hi));
        let ymax = values.iter().chain(reference.iter().flatten()).map(|p| p.1).fold(0.0, f64::max).max(1e-9);
        let mut entries = vec![(format!("{label} ({})", panel.values.len()), Marker::Line(BLUE, 2))];
        if let Some(r) = panel.reference {
            entries.push((format!("{reference_label} ({})", r.len()), Marker::Line(ORANGE, 2)));
        }
        let legend = Legend::new(entries, area.dim_in_pixel().0 / 2);
        let mut lines: Vec<&[(f64, f64)]> = vec![&values];
        lines.extend(reference.as_deref());
        let occupied = Occupied { lines, ..Occupied::default() };
        let x = Axis::new((lo, hi), with_unit(panel.name));
        let y = Axis::new((0.0, ymax * 1.05), "density");
        let Framed { mut chart, ticks, legend_at, y } = frame_with_legend(&area, &x, &y, &legend, &occupied, true)?;
        draw_mesh(&mut chart, &x, &y, &ticks)?;
        if let Some(r) = reference {
            chart.draw_series(LineSeries::new(r, ORANGE.stroke_width(2))).map_err(fail)?;
        }
        chart.draw_series(LineSeries::new(values, BLUE.stroke_width(2))).map_err(fail)?;
        legend.draw(&chart.plotting_area().strip_coord_spec(), legend_at)?;
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
    fn bars_are_whole_numbers_wide_and_keep_every_count() {
        let counts: BTreeMap<u32, u64> = [(24, 1), (100, 7), (351, 20), (1320, 2)].into_iter().collect();
        let (bars, width) = bars(&counts);
        assert_eq!(width, 22);
        assert!(bars.len() <= MAX_BINS as usize + 1);
        assert_eq!(bars.iter().map(|b| b.1).sum::<u64>(), 30);
        assert_eq!(bars[0], (24, 1));
    }

    #[test]
    fn distributions_name_units_on_the_x_axis() {
        let values: Vec<f64> = (0..50).map(|i| 200.0 + i as f64 * 5.0).collect();
        let panels = [Distribution { name: "molecular weight", range: (0.0, 700.0), values: &values, reference: None }];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("props.svg");
        distributions(&path, "generated", "training", &panels).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("molecular weight (Da)"), "the unit is on the axis");
    }

    #[test]
    fn density_integrates_to_one_and_clamps() {
        let d = density(&[-5.0, 0.5, 0.99, 7.0], 0.0, 1.0);
        let area: f64 = d.iter().map(|v| v / DENSITY_BINS as f64).sum();
        assert!((area - 1.0).abs() < 1e-12);
        assert!(d[0] > 0.0 && d[DENSITY_BINS - 1] > 0.0);
    }
}
