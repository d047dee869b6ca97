//! A saturation-mutagenesis heatmap: positions across, the 20 amino acids down, one cell per substitution coloured
//! on a diverging scale centred on 0 (blue below, red above, white at 0, symmetric about 0 so that equal effects of
//! either sign get equal weight), the wild-type letter of each position marked with a dot. Long proteins wrap: at
//! most [`HEATMAP_WRAP`] positions per band, bands stacked, so a 1,000-residue protein is 10 bands of readable cells.

use std::path::Path;

use plotters::prelude::*;

use crate::error::Result;
use crate::layout::FONT;
use crate::render::{fail, render, Area, Drawn};

/// Positions per band of [`heatmap`].
pub const HEATMAP_WRAP: usize = 100;

const CELL: i32 = 9;
const LEFT: i32 = 34;
const TOP: i32 = 44;
const BAND_GAP: i32 = 30;

/// The values of a [`heatmap`].
pub struct Heatmap<'a> {
    pub title: &'a str,
    /// The row labels, top to bottom (e.g. the 20 amino acids).
    pub letters: &'a [u8],
    /// Each position's residue number, its wild-type letter, and one value per letter (`None`: no value, e.g. the
    /// wild type itself).
    pub positions: &'a [(i64, u8, Vec<Option<f64>>)],
    /// The colour-bar label (e.g. the method).
    pub label: &'a str,
}

/// Draws `map` into `path` (`.png` or `.svg`).
pub fn heatmap(path: &Path, map: &Heatmap<'_>) -> Result<()> {
    let size = size(map);
    render(path, size, |root| draw(root, map), |root| draw(root, map))
}

fn size(map: &Heatmap<'_>) -> (u32, u32) {
    let bands = map.positions.len().div_ceil(HEATMAP_WRAP).max(1) as i32;
    let columns = map.positions.len().clamp(1, HEATMAP_WRAP) as i32;
    let band_height = CELL * map.letters.len() as i32 + BAND_GAP;
    let width = (LEFT + columns * CELL + 20).max(420);
    (width as u32, (TOP + bands * band_height + 50) as u32)
}

/// The colour of `v` on a blue-white-red scale over [-limit, limit].
fn colour(v: f64, limit: f64) -> RGBColor {
    let t = (v / limit).clamp(-1.0, 1.0);
    let mix = |a: u8, b: u8, f: f64| (f64::from(a) + (f64::from(b) - f64::from(a)) * f) as u8;
    let (blue, red) = ((33, 102, 172), (178, 24, 43));
    if t < 0.0 {
        RGBColor(mix(255, blue.0, -t), mix(255, blue.1, -t), mix(255, blue.2, -t))
    } else {
        RGBColor(mix(255, red.0, t), mix(255, red.1, t), mix(255, red.2, t))
    }
}

fn draw<DB: DrawingBackend>(root: Area<DB>, map: &Heatmap<'_>) -> Drawn {
    root.fill(&WHITE).map_err(fail)?;
    let limit = map.positions.iter().flat_map(|p| p.2.iter().flatten()).fold(0.0_f64, |m, v| m.max(v.abs()));
    let limit = if limit > 0.0 { limit } else { 1.0 };
    root.draw(&Text::new(map.title.to_string(), (LEFT, 10), (FONT, 16.0).into_font())).map_err(fail)?;
    let rows = map.letters.len() as i32;
    let band_height = CELL * rows + BAND_GAP;
    for (band, chunk) in map.positions.chunks(HEATMAP_WRAP).enumerate() {
        let y0 = TOP + band as i32 * band_height;
        for (r, letter) in map.letters.iter().enumerate() {
            let y = y0 + r as i32 * CELL;
            root.draw(&Text::new((*letter as char).to_string(), (LEFT - 14, y), (FONT, 9.0).into_font()))
                .map_err(fail)?;
        }
        for (c, (position, wt, values)) in chunk.iter().enumerate() {
            let x = LEFT + c as i32 * CELL;
            for (r, letter) in map.letters.iter().enumerate() {
                let y = y0 + r as i32 * CELL;
                let fill = match values.get(r).copied().flatten() {
                    Some(v) => colour(v, limit),
                    None => RGBColor(225, 225, 225),
                };
                root.draw(&Rectangle::new([(x, y), (x + CELL, y + CELL)], fill.filled())).map_err(fail)?;
                if letter == wt {
                    root.draw(&Circle::new((x + CELL / 2, y + CELL / 2), 2, BLACK.filled())).map_err(fail)?;
                }
            }
            if position % 10 == 0 || c == 0 {
                let y = y0 + rows * CELL + 2;
                root.draw(&PathElement::new([(x + CELL / 2, y), (x + CELL / 2, y + 3)], BLACK)).map_err(fail)?;
                root.draw(&Text::new(position.to_string(), (x, y + 5), (FONT, 9.0).into_font())).map_err(fail)?;
            }
        }
    }
    // The colour bar: -limit .. 0 .. +limit.
    let (_, height) = root.dim_in_pixel();
    let y = height as i32 - 36;
    let steps = 60;
    for i in 0..steps {
        let v = -limit + 2.0 * limit * (f64::from(i) + 0.5) / f64::from(steps);
        let x = LEFT + i * 3;
        root.draw(&Rectangle::new([(x, y), (x + 3, y + 10)], colour(v, limit).filled())).map_err(fail)?;
    }
    let font = (FONT, 10.0).into_font();
    root.draw(&Text::new(format!("{:.2}", -limit), (LEFT, y + 13), font.clone())).map_err(fail)?;
    root.draw(&Text::new("0".to_string(), (LEFT + 88, y + 13), font.clone())).map_err(fail)?;
    root.draw(&Text::new(format!("{limit:.2}"), (LEFT + 160, y + 13), font.clone())).map_err(fail)?;
    let note = format!("{}; dot: wild type", map.label);
    root.draw(&Text::new(note, (LEFT + 200, y), font)).map_err(fail)?;
    root.present().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_proteins_wrap_and_the_figure_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let letters = b"ACDEFGHIKLMNPQRSTVWY";
        let positions: Vec<(i64, u8, Vec<Option<f64>>)> = (0..250)
            .map(|i| {
                let wt = letters[i % 20];
                let values = letters.iter().map(|&l| (l != wt).then(|| (i as f64 * 0.1).sin() * 3.0)).collect();
                (i as i64 + 1, wt, values)
            })
            .collect();
        let map = Heatmap { title: "saturation", letters, positions: &positions, label: "masked-marginal" };
        assert_eq!(size(&map).1 as i32, TOP + 3 * (CELL * 20 + BAND_GAP) + 50, "three bands");
        for name in ["h.png", "h.svg"] {
            let path = dir.path().join(name);
            heatmap(&path, &map).unwrap();
            crate::tests::assert_complete(&path);
        }
        assert_eq!(colour(0.0, 1.0), RGBColor(255, 255, 255));
        assert_eq!(colour(-5.0, 1.0), RGBColor(33, 102, 172));
    }
}
