//! Curves over training or optimization steps: panels of named per-step series, and the loss curves of a training
//! run.

use std::path::Path;

use plotters::prelude::*;

use crate::error::Result;
use crate::layout::{draw_mesh, extent, frame_with_legend, padded, titled, Axis, Framed, Occupied};
use crate::legend::{Legend, Marker};
use crate::palette::{BLUE, ORANGE, SERIES};
use crate::render::{fail, render, Area, Drawn};

/// A named series of (step, value) points; non-finite values are left out.
pub type Series<'a> = (&'a str, Vec<(f64, f64)>);

/// A panel: the y-axis name and its series.
pub type Panel<'a> = (&'a str, Vec<Series<'a>>);

/// Line plots of per-step values under one title: one panel per metric (330 pixels high each), each with its named
/// series over the step (whole-number ticks when every step is a whole number) and a legend where it covers no
/// line. A panel without a finite point is left blank.
pub fn step_lines(path: &Path, title: &str, panels: &[Panel<'_>]) -> Result<()> {
    let size = (1000, 330 * panels.len().max(1) as u32 + 30);
    render(path, size, |root| draw_lines(root, title, panels), |root| draw_lines(root, title, panels))
}

fn draw_lines<DB: DrawingBackend>(root: Area<DB>, title: &str, panels: &[Panel<'_>]) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let root = titled(&root, title, 21.0)?;
    for (area, (name, series)) in root.split_evenly((panels.len().max(1), 1)).into_iter().zip(panels) {
        let finite: Vec<Vec<(f64, f64)>> = series
            .iter()
            .map(|(_, s)| s.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect())
            .collect();
        let (Some(xs), Some(ys)) =
            (extent(finite.iter().flatten().map(|p| p.0)), extent(finite.iter().flatten().map(|p| p.1)))
        else {
            continue;
        };
        let integral = finite.iter().flatten().all(|p| p.0.fract() == 0.0);
        let x = Axis::new((xs.0, xs.1.max(xs.0 + 1.0)), "step").integral(integral);
        let y = Axis::new(padded(ys, 0.08), *name);
        let entries = series
            .iter()
            .enumerate()
            .map(|(i, (label, _))| (label.to_string(), Marker::Line(SERIES[i % SERIES.len()], 2)))
            .collect();
        let legend = Legend::new(entries, 300);
        let occupied = Occupied { lines: finite.iter().map(Vec::as_slice).collect(), ..Occupied::default() };
        let Framed { mut chart, ticks, legend_at, y } = frame_with_legend(&area, &x, &y, &legend, &occupied, true)?;
        draw_mesh(&mut chart, &x, &y, &ticks)?;
        for (i, points) in finite.iter().enumerate() {
            let color = SERIES[i % SERIES.len()];
            chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2))).map_err(fail)?;
        }
        legend.draw(&chart.plotting_area().strip_coord_spec(), legend_at)?;
    }
    root.present().map_err(fail)
}

/// The loss curves of a training run.
#[derive(Debug, Clone, Copy)]
pub struct LossCurves<'a> {
    /// The caption, e.g. `masked-LM loss` or `causal-LM loss`.
    pub title: &'a str,
    /// Training loss per step: (step, loss); non-finite values are left out.
    pub train: &'a [(f64, f64)],
    /// Validation loss per evaluation: (step, loss), drawn with a marker at each point.
    pub valid: &'a [(f64, f64)],
    /// The last step of the x axis (at least 1).
    pub last_step: u64,
}

/// Training loss per step (blue) and validation loss per evaluation (orange, with markers) against the step
/// (whole-number ticks), in nats (900 x 560 pixels), with the legend where it covers neither curve.
pub fn loss_curves(path: &Path, curves: &LossCurves<'_>) -> Result<()> {
    render(path, (900, 560), |root| draw_losses(root, curves), |root| draw_losses(root, curves))
}

fn draw_losses<DB: DrawingBackend>(root: Area<DB>, curves: &LossCurves<'_>) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let area = titled(&root, curves.title, 21.0)?;
    let finite = |s: &[(f64, f64)]| -> Vec<(f64, f64)> { s.iter().copied().filter(|p| p.1.is_finite()).collect() };
    let (train, valid) = (finite(curves.train), finite(curves.valid));
    let losses = extent(train.iter().chain(&valid).map(|p| p.1)).unwrap_or((0.0, 1.0));
    let x = Axis::new((0.0, curves.last_step.max(1) as f64), "step").integral(true);
    let y = Axis::new(padded(losses, 0.05), "cross-entropy (nats)");
    let legend =
        Legend::new(vec![("train".into(), Marker::Line(BLUE, 2)), ("validation".into(), Marker::Line(ORANGE, 2))], 300);
    let occupied = Occupied { points: vec![&valid], lines: vec![&train, &valid], radius: 3 };
    let Framed { mut chart, ticks, legend_at, y } = frame_with_legend(&area, &x, &y, &legend, &occupied, true)?;
    draw_mesh(&mut chart, &x, &y, &ticks)?;
    chart.draw_series(LineSeries::new(train, BLUE.stroke_width(1))).map_err(fail)?;
    chart.draw_series(LineSeries::new(valid.clone(), ORANGE.stroke_width(2))).map_err(fail)?;
    chart.draw_series(valid.into_iter().map(|p| Circle::new(p, 3, ORANGE.filled()))).map_err(fail)?;
    legend.draw(&chart.plotting_area().strip_coord_spec(), legend_at)?;
    root.present().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::assert_complete;

    #[test]
    fn step_lines_png_and_svg() {
        let series = |f: fn(f64) -> f64| (0..10).map(|i| (i as f64, f(i as f64))).collect::<Vec<_>>();
        let panels = vec![
            ("score", vec![("mean", series(|x| x / 10.0)), ("top 10", series(|x| x / 5.0))]),
            (
                "fraction",
                vec![("valid", series(|_| 0.9)), ("unique", series(|x| if x > 5.0 { f64::NAN } else { 1.0 }))],
            ),
            ("nothing yet", vec![("mean", vec![(0.0, f64::NAN)])]),
        ];
        for ext in ["png", "svg"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("steps.{ext}"));
            step_lines(&path, "optimize: qed", &panels).unwrap();
            assert_complete(&path);
        }
    }

    #[test]
    fn loss_curves_png_and_svg() {
        let train: Vec<(f64, f64)> = (1..=6).map(|s| (s as f64, 3.0 - 0.1 * s as f64)).collect();
        let valid = [(0.0, 3.1), (3.0, 2.8), (6.0, f64::NAN)];
        for (ext, title) in [("png", "masked-LM loss"), ("svg", "causal-LM loss")] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("loss.{ext}"));
            loss_curves(&path, &LossCurves { title, train: &train, valid: &valid, last_step: 6 }).unwrap();
            assert_complete(&path);
            if ext == "svg" {
                let texts = crate::tests::svg_texts(&path);
                assert!(texts.iter().any(|t| t == title), "the title is drawn: {texts:?}");
                assert!(texts.iter().any(|t| t == "2") && !texts.iter().any(|t| t == "2.0"), "whole steps: {texts:?}");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.png");
        loss_curves(&path, &LossCurves { title: "loss", train: &[], valid: &[], last_step: 0 }).unwrap();
        assert_complete(&path);
    }
}
