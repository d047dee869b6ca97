//! Curves over training or optimization steps: panels of named per-step series, and the loss curves of a training
//! run.

use std::path::Path;

use plotters::prelude::*;

use crate::error::Result;
use crate::render::{fail, render, Area, Drawn, BLUE, PALETTE};

/// A named series of (step, value) points; non-finite values are left out.
pub type Series<'a> = (&'a str, Vec<(f64, f64)>);

/// A panel: the y-axis name and its series.
pub type Panel<'a> = (&'a str, Vec<Series<'a>>);

/// Line plots of per-step values under one title: one panel per metric (330 pixels high each), each with its named
/// series over the step. A panel without a finite point is left blank.
pub fn step_lines(path: &Path, title: &str, panels: &[Panel<'_>]) -> Result<()> {
    let size = (1000, 330 * panels.len().max(1) as u32);
    render(path, size, |root| draw_lines(root, title, panels), |root| draw_lines(root, title, panels))
}

fn draw_lines<DB: DrawingBackend>(root: Area<DB>, title: &str, panels: &[Panel<'_>]) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(fail)?;
    let colors = &PALETTE[..4];
    for (area, (name, series)) in root.split_evenly((panels.len().max(1), 1)).into_iter().zip(panels) {
        let points = || series.iter().flat_map(|(_, s)| s.iter()).filter(|p| p.1.is_finite());
        let (xmin, xmax) = points().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (ymin, ymax) = points().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        if xmin > xmax {
            continue;
        }
        let pad = ((ymax - ymin) * 0.08).max(1e-6);
        let mut chart = ChartBuilder::on(&area)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(xmin..xmax.max(xmin + 1.0), (ymin - pad)..(ymax + pad))
            .map_err(fail)?;
        chart.configure_mesh().x_desc("step").y_desc(*name).label_style(("sans-serif", 13)).draw().map_err(fail)?;
        for (i, (label, s)) in series.iter().enumerate() {
            let color = colors[i % colors.len()];
            chart
                .draw_series(LineSeries::new(s.iter().copied().filter(|p| p.1.is_finite()), color.stroke_width(2)))
                .map_err(fail)?
                .label(*label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
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

/// Training loss per step (blue) and validation loss per evaluation (orange, with markers) against the step, in
/// nats (900 x 560 pixels).
pub fn loss_curves(path: &Path, curves: &LossCurves<'_>) -> Result<()> {
    render(path, (900, 560), |root| draw_losses(root, curves), |root| draw_losses(root, curves))
}

fn draw_losses<DB: DrawingBackend>(root: Area<DB>, curves: &LossCurves<'_>) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let finite = |s: &[(f64, f64)]| -> Vec<(f64, f64)> { s.iter().copied().filter(|p| p.1.is_finite()).collect() };
    let (train, valid) = (finite(curves.train), finite(curves.valid));
    let (lo, hi) = train.iter().chain(&valid).fold((f64::MAX, f64::MIN), |(lo, hi), &(_, y)| (lo.min(y), hi.max(y)));
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let max_step = curves.last_step.max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(curves.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_step, (lo - pad)..(hi + pad))
        .map_err(fail)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("cross-entropy (nats)")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(fail)?;
    let orange = RGBColor(230, 120, 20);
    chart
        .draw_series(LineSeries::new(train, BLUE.stroke_width(1)))
        .map_err(fail)?
        .label("train")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(valid.clone(), orange.stroke_width(2)))
        .map_err(fail)?
        .label("validation")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], orange.stroke_width(2)));
    chart.draw_series(valid.into_iter().map(|p| Circle::new(p, 3, orange.filled()))).map_err(fail)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(fail)?;
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
                assert!(std::fs::read_to_string(&path).unwrap().contains(title), "the title is drawn");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.png");
        loss_curves(&path, &LossCurves { title: "loss", train: &[], valid: &[], last_step: 0 }).unwrap();
        assert_complete(&path);
    }
}
