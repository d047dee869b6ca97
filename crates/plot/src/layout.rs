//! Layout that reads well: round tick values (whole numbers on integer axes), label areas measured from the text they
//! hold so that nothing is clipped, titles that fit their figure, and the corner where a legend covers no data.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::legend::Legend;
use crate::render::{fail, Area, Drawn};
pub(crate) use crate::text::FONT;
pub use crate::text::{elide, fit_text, text_size};

/// Tick values for an axis: round numbers (1, 2 or 5 times a power of ten apart), and the decimals that show them.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    /// The values, ascending, all within the range asked for.
    pub values: Vec<f64>,
    /// Digits after the decimal point (0 on integer axes).
    pub decimals: usize,
}

impl Ticks {
    /// The label of `value`: fixed-point with [`Ticks::decimals`] digits, never `-0`.
    pub fn label(&self, value: f64) -> String {
        let text = format!("{:.*}", self.decimals, value);
        match text.strip_prefix('-') {
            Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
            _ => text,
        }
    }
}

/// At most about `max` round ticks within `lo..=hi`. On an `integral` axis (steps, counts, lengths) the ticks are
/// whole numbers, at least 1 apart: never `1.5` steps or `2.5` records.
pub fn nice_ticks(lo: f64, hi: f64, max: usize, integral: bool) -> Ticks {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() && lo < hi { (lo, hi) } else { (0.0, 1.0) };
    let raw = (hi - lo) / max.max(1) as f64;
    let mut exponent = raw.log10().floor() as i32;
    let mut mantissa = 10;
    for m in [1, 2, 5, 10] {
        if m as f64 * 10f64.powi(exponent) >= raw * (1.0 - 1e-9) {
            mantissa = m;
            break;
        }
    }
    if mantissa == 10 {
        (mantissa, exponent) = (1, exponent + 1);
    }
    if integral && exponent < 0 {
        (mantissa, exponent) = (1, 0);
    }
    let step = mantissa as f64 * 10f64.powi(exponent);
    let decimals = (-exponent).max(0) as usize;
    let scale = 10f64.powi(decimals as i32);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let values = (first..=last).map(|k| ((k as f64 * step) * scale).round() / scale).collect();
    Ticks { values, decimals }
}

/// One axis of a [`frame`].
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    /// The drawn range.
    pub(crate) range: (f64, f64),
    /// Ticks are placed within this range (the data's, without room added for a legend); the drawn range when `None`.
    pub(crate) ticks_within: Option<(f64, f64)>,
    /// The axis description, with its unit.
    pub(crate) desc: String,
    /// Whole-number ticks.
    pub(crate) integral: bool,
}

impl Axis {
    pub(crate) fn new(range: (f64, f64), desc: impl Into<String>) -> Axis {
        let range = if range.0 < range.1 { range } else { (range.0 - 0.5, range.0 + 0.5) };
        Axis { range, ticks_within: None, desc: desc.into(), integral: false }
    }

    pub(crate) fn integral(mut self, integral: bool) -> Axis {
        self.integral = integral;
        self
    }

    fn ticks(&self, max: usize) -> Ticks {
        let (lo, hi) = self.ticks_within.unwrap_or(self.range);
        let (lo, hi) = (lo.max(self.range.0), hi.min(self.range.1));
        nice_ticks(lo, hi, max, self.integral)
    }
}

/// A real axis whose grid lines and labels are exactly the given ticks (no light grid lines).
pub(crate) struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: (f64, f64), ticks: &Ticks) -> Ticked {
        Ticked { inner: (range.0..range.1).into(), ticks: ticks.values.clone() }
    }
}

impl Ranged for Ticked {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
}

/// A chart whose axes carry the ticks [`frame`] chose.
pub(crate) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Ticked, Ticked>>;

/// Font size of tick labels and of axis descriptions.
pub(crate) const TICK_FONT: f64 = 13.0;
pub(crate) const DESC_FONT: f64 = 14.0;

/// The range `(lo, hi)` widened by `fraction` of its span on both sides (a unit span when it is empty).
pub(crate) fn padded((lo, hi): (f64, f64), fraction: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * fraction } else { lo.abs().max(1.0) * 0.5 };
    (lo - pad, hi + pad)
}

/// The smallest and largest finite value of `values` (`None` when there is none).
pub(crate) fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Builds a chart on `area` (no drawing yet): the label areas are as wide and high as the tick labels and axis
/// descriptions they hold, the ticks are round (whole numbers on integral axes).
pub(crate) fn frame<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    x: &Axis,
    y: &Axis,
) -> Result<(Chart<'a, DB>, Ticks, Ticks), crate::DrawFailure> {
    let (w, h) = area.dim_in_pixel();
    let xt = x.ticks(((w / 70) as usize).clamp(2, 12));
    let yt = y.ticks(((h / 50) as usize).clamp(2, 10));
    let widest = yt.values.iter().map(|&v| text_size(&yt.label(v), TICK_FONT).0).max().unwrap_or(0);
    let desc_h = |d: &str| if d.is_empty() { 0 } else { text_size(d, DESC_FONT).1 + 8 };
    let y_area = widest + 14 + desc_h(&y.desc);
    let x_area = text_size("0123456789", TICK_FONT).1 + 12 + desc_h(&x.desc);
    // The last x tick label is centred on the right edge: leave room for its half.
    let right = xt.values.last().map_or(0, |&v| text_size(&xt.label(v), TICK_FONT).0 / 2).max(8) + 6;
    let chart = ChartBuilder::on(area)
        .margin_top(10)
        .margin_bottom(6)
        .margin_left(8)
        .margin_right(right)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(Ticked::new(x.range, &xt), Ticked::new(y.range, &yt))
        .map_err(fail)?;
    Ok((chart, xt, yt))
}

/// Draws the mesh of a chart from [`frame`]: a grid line at each tick, the tick labels, the axis descriptions.
pub(crate) fn draw_mesh<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    x: &Axis,
    y: &Axis,
    ticks: &(Ticks, Ticks),
) -> Drawn {
    let xf = |v: &f64| ticks.0.label(*v);
    let yf = |v: &f64| ticks.1.label(*v);
    chart
        .configure_mesh()
        .x_desc(x.desc.as_str())
        .y_desc(y.desc.as_str())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style((FONT, TICK_FONT))
        .axis_desc_style((FONT, DESC_FONT))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(fail)
}

/// A corner of the plotting area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
}

/// The corner where a `legend` box (width, height in pixels) placed `inset` pixels from the edges of a plotting area
/// of `size` pixels covers the fewest `samples` (pixel positions relative to the plotting area's top left; a
/// sample within `clearance` pixels of the box counts as covered), and how many it covers there. Ties go to the
/// upper right, then upper left, lower right, lower left.
pub fn emptiest_corner(
    size: (u32, u32),
    legend: (u32, u32),
    inset: i32,
    clearance: i32,
    samples: &[(i32, i32)],
) -> (Corner, usize) {
    let corners = [Corner::UpperRight, Corner::UpperLeft, Corner::LowerRight, Corner::LowerLeft];
    corners
        .iter()
        .map(|&c| {
            let (x0, y0) = corner_origin(c, size, legend, inset);
            let (x1, y1) = (x0 + legend.0 as i32, y0 + legend.1 as i32);
            let covered = samples
                .iter()
                .filter(|&&(x, y)| {
                    x >= x0 - clearance && x <= x1 + clearance && y >= y0 - clearance && y <= y1 + clearance
                })
                .count();
            (c, covered)
        })
        .min_by_key(|&(_, covered)| covered)
        .expect("four corners")
}

/// The top left pixel of a legend box of `legend` pixels in `corner` of an area of `size` pixels.
pub(crate) fn corner_origin(corner: Corner, size: (u32, u32), legend: (u32, u32), inset: i32) -> (i32, i32) {
    let right = size.0 as i32 - legend.0 as i32 - inset;
    let bottom = size.1 as i32 - legend.1 as i32 - inset;
    match corner {
        Corner::UpperRight => (right, inset),
        Corner::UpperLeft => (inset, inset),
        Corner::LowerRight => (right, bottom),
        Corner::LowerLeft => (inset, bottom),
    }
}

/// Where data lies in a chart, in data coordinates: single points (markers of radius `radius` pixels) and polylines
/// (sampled every few pixels along each segment).
#[derive(Debug, Default)]
pub(crate) struct Occupied<'a> {
    pub(crate) points: Vec<&'a [(f64, f64)]>,
    pub(crate) lines: Vec<&'a [(f64, f64)]>,
    pub(crate) radius: i32,
}

impl Occupied<'_> {
    /// The pixels (relative to the plotting area) where data is drawn.
    fn pixels<DB: DrawingBackend>(&self, chart: &Chart<'_, DB>) -> Vec<(i32, i32)> {
        let base = chart.plotting_area().get_base_pixel();
        let px = |p: &(f64, f64)| {
            let (x, y) = chart.backend_coord(p);
            (x - base.0, y - base.1)
        };
        let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
        let mut out: Vec<(i32, i32)> = self.points.iter().flat_map(|s| s.iter().filter(finite).map(px)).collect();
        for line in &self.lines {
            let pts: Vec<(i32, i32)> = line.iter().filter(finite).map(px).collect();
            if let [only] = pts.as_slice() {
                out.push(*only);
            }
            for pair in pts.windows(2) {
                let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
                let n = ((x1 - x0).abs().max((y1 - y0).abs()) / 3).max(1);
                out.extend((0..=n).map(|k| (x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n)));
            }
        }
        out
    }
}

/// Gap between a legend and the edges of the plotting area, and the clearance kept around it.
const INSET: i32 = 8;
const CLEARANCE: i32 = 3;

/// A chart from [`frame_with_legend`].
pub(crate) struct Framed<'a, DB: DrawingBackend> {
    /// The chart, its mesh not drawn yet.
    pub(crate) chart: Chart<'a, DB>,
    /// Its x and y ticks.
    pub(crate) ticks: (Ticks, Ticks),
    /// The legend's top left pixel, relative to the plotting area.
    pub(crate) legend_at: (i32, i32),
    /// The y axis as drawn (taller than asked when room was made for the legend).
    pub(crate) y: Axis,
}

/// Builds a chart like [`frame`] and finds a place for `legend` inside its plotting area where it covers none of
/// `occupied`: the emptiest corner, or, when every corner holds data, the top of the chart after the y axis is
/// extended upwards to make room above the data (when `headroom` allows).
pub(crate) fn frame_with_legend<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    x: &Axis,
    y: &Axis,
    legend: &Legend,
    occupied: &Occupied<'_>,
    headroom: bool,
) -> Result<Framed<'a, DB>, crate::DrawFailure> {
    let (chart, xt, yt) = frame(area, x, y)?;
    let size = chart.plotting_area().dim_in_pixel();
    let box_size = legend.size();
    let clearance = CLEARANCE + occupied.radius;
    let (corner, covered) = emptiest_corner(size, box_size, INSET, clearance, &occupied.pixels(&chart));
    if covered == 0 || !headroom {
        let legend_at = corner_origin(corner, size, box_size, INSET);
        return Ok(Framed { chart, ticks: (xt, yt), legend_at, y: y.clone() });
    }
    // Extend the top so that the data ends below the legend: the data's top maps to pixel `room` from the top.
    let room = (box_size.1 as i32 + INSET + clearance + 2) as f64;
    let fraction = (room / size.1.max(1) as f64).min(0.6);
    let (lo, hi) = y.range;
    let mut taller = y.clone();
    taller.range = (lo, (hi - lo * fraction) / (1.0 - fraction));
    taller.ticks_within = Some(y.ticks_within.unwrap_or(y.range));
    let (chart, xt, yt) = frame(area, x, &taller)?;
    let size = chart.plotting_area().dim_in_pixel();
    let (corner, _) = emptiest_corner(size, box_size, INSET, clearance, &occupied.pixels(&chart));
    let corner = if matches!(corner, Corner::UpperLeft | Corner::UpperRight) { corner } else { Corner::UpperRight };
    let legend_at = corner_origin(corner, size, box_size, INSET);
    Ok(Framed { chart, ticks: (xt, yt), legend_at, y: taller })
}

/// The title drawn at the top of `area`, fitted to its width; returns the area below it.
pub(crate) fn titled<DB: DrawingBackend>(
    area: &Area<DB>,
    title: &str,
    size: f64,
) -> Result<Area<DB>, crate::DrawFailure> {
    let area = area.margin(8, 0, 0, 0);
    let (w, _) = area.dim_in_pixel();
    let (text, s) = fit_text(title, size, w.saturating_sub(24));
    area.titled(&text, (FONT, s)).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legend::Marker;

    #[test]
    fn integer_axes_get_whole_number_ticks() {
        for (lo, hi) in [(1.0, 4.0), (0.0, 12.0), (0.0, 3.0), (24.0, 1321.0), (0.0, 1.0), (5.0, 5.5)] {
            for max in [3, 6, 10] {
                let t = nice_ticks(lo, hi, max, true);
                assert_eq!(t.decimals, 0, "{lo}..{hi}");
                assert!(!t.values.is_empty() || hi - lo < 1.0, "{lo}..{hi}: {t:?}");
                for v in &t.values {
                    assert_eq!(v.fract(), 0.0, "{lo}..{hi} max {max}: {t:?}");
                    assert!(*v >= lo && *v <= hi);
                    assert!(!t.label(*v).contains('.'), "{}", t.label(*v));
                }
                assert!(t.values.len() <= max + 1, "{lo}..{hi} max {max}: {t:?}");
            }
        }
        // Four optimization steps: 1, 2, 3, 4, not 1.0, 1.5, ...
        assert_eq!(nice_ticks(1.0, 4.0, 8, true).values, [1.0, 2.0, 3.0, 4.0]);
        // Without the integer constraint the same range gets half steps.
        let t = nice_ticks(1.0, 4.0, 8, false);
        assert_eq!((t.values[1], t.decimals), (1.5, 1));
    }

    #[test]
    fn real_axes_get_round_ticks_with_the_decimals_they_need() {
        let t = nice_ticks(3.24, 3.53, 6, false);
        assert_eq!(t.values, [3.25, 3.3, 3.35, 3.4, 3.45, 3.5]);
        assert_eq!(t.label(3.3), "3.30");
        let t = nice_ticks(-4.0, 8.0, 6, false);
        assert_eq!(t.values, [-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(t.label(-0.0), "0");
        let t = nice_ticks(0.0, 0.0104, 5, false);
        assert_eq!((t.decimals, t.label(0.004)), (3, "0.004".to_string()));
        assert_eq!(nice_ticks(f64::NAN, 1.0, 4, false).values, [0.0, 0.5, 1.0], "a broken range becomes 0..1");
    }

    #[test]
    fn the_legend_goes_to_the_corner_without_points() {
        let size = (400, 300);
        let legend = (120, 60);
        // Points in the upper right and upper left: the lower right is empty.
        let mut points: Vec<(i32, i32)> = (0..50).map(|i| (300 + i, 10 + i)).collect();
        points.extend((0..50).map(|i| (10 + i, 20 + i)));
        assert_eq!(emptiest_corner(size, legend, 8, 3, &points), (Corner::LowerRight, 0));
        // Nothing anywhere: upper right first.
        assert_eq!(emptiest_corner(size, legend, 8, 3, &[]), (Corner::UpperRight, 0));
        // Every corner holds points: the one with the fewest.
        let mut crowded = Vec::new();
        for (&(cx, cy), n) in [(20, 20), (380, 20), (20, 280), (380, 280)].iter().zip([5, 4, 2, 3]) {
            crowded.extend((0..n).map(|i| (cx + i, cy)));
        }
        assert_eq!(emptiest_corner(size, legend, 8, 3, &crowded), (Corner::LowerLeft, 2));
        // The chosen box really holds none of the points.
        let (corner, covered) = emptiest_corner(size, legend, 8, 3, &points);
        let (x0, y0) = corner_origin(corner, size, legend, 8);
        assert_eq!(covered, 0);
        assert!(points.iter().all(|&(x, y)| x < x0 || x > x0 + 120 || y < y0 || y > y0 + 60));
    }

    /// The legend box [`frame_with_legend`] chose, in pixels of the plotting area, and the data pixels there.
    type Rect = (i32, i32, i32, i32);

    fn placed(points: &[(f64, f64)], headroom: bool) -> (Rect, Vec<(i32, i32)>) {
        let mut buffer = vec![0u8; 600 * 400 * 3];
        let root = BitMapBackend::with_buffer(&mut buffer, (600, 400)).into_drawing_area();
        let legend = Legend::new(
            vec![("train".into(), Marker::Line(BLACK, 2)), ("validation".into(), Marker::Dot(BLACK, 3))],
            200,
        );
        let occupied = Occupied { points: vec![points], radius: 3, ..Occupied::default() };
        let x = Axis::new(padded(extent(points.iter().map(|p| p.0)).unwrap(), 0.02), "x");
        let y = Axis::new(padded(extent(points.iter().map(|p| p.1)).unwrap(), 0.02), "y");
        let framed = frame_with_legend(&root, &x, &y, &legend, &occupied, headroom).unwrap();
        let ((w, h), at) = (legend.size(), framed.legend_at);
        ((at.0, at.1, at.0 + w as i32, at.1 + h as i32), occupied.pixels(&framed.chart))
    }

    #[test]
    fn a_legend_never_covers_points_even_when_every_corner_holds_some() {
        let inside = |(x0, y0, x1, y1): Rect, pixels: &[(i32, i32)]| {
            pixels.iter().filter(|&&(x, y)| x >= x0 - 3 && x <= x1 + 3 && y >= y0 - 3 && y <= y1 + 3).count()
        };
        // A diagonal from the lower left to the upper right: the upper left corner is free.
        let diagonal: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, i as f64)).collect();
        let (legend, pixels) = placed(&diagonal, true);
        assert_eq!(inside(legend, &pixels), 0);
        assert!(legend.0 < 100 && legend.1 < 100, "upper left: {legend:?}");
        // Points everywhere (a grid): no corner is free, so room is made above the data.
        let grid: Vec<(f64, f64)> = (0..400).map(|i| ((i % 20) as f64, (i / 20) as f64)).collect();
        let (legend, pixels) = placed(&grid, true);
        assert_eq!(inside(legend, &pixels), 0, "legend {legend:?}");
        // Without headroom the emptiest corner is the best there is.
        let (legend, pixels) = placed(&grid, false);
        assert!(inside(legend, &pixels) > 0);
    }

    #[test]
    fn long_titles_shrink_then_lose_their_middle() {
        let short = "PCA of e.parquet";
        assert_eq!(fit_text(short, 20.0, 800), (short.to_string(), 20.0));
        let long = format!("{}/proteins.faa (500 records)", "very/long/folder".repeat(12));
        let (text, size) = fit_text(&long, 20.0, 600);
        assert!(text.contains('…') && text.ends_with("(500 records)"), "{text}");
        assert!(size >= 15.0 && text_size(&text, size).0 <= 600);
    }
}
