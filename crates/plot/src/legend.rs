//! Legends drawn by this crate rather than by plotters, so that their size is known before they are placed: inside
//! the plotting area where they cover no data, or beside it.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::render::{fail, Area, Drawn};
use crate::text::{elide, text_size, FONT};

/// How an entry's series looks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Marker {
    /// A line of this colour and width.
    Line(RGBColor, u32),
    /// A filled dot of this colour and radius.
    Dot(RGBColor, u32),
}

/// A legend: one row per entry, a marker and its text.
#[derive(Debug, Clone)]
pub(crate) struct Legend {
    entries: Vec<(String, Marker)>,
    font: f64,
}

const PAD: u32 = 7;
const MARKER: u32 = 22;
const GAP: u32 = 7;

impl Legend {
    /// A legend of `entries` whose texts are at most `max_width` pixels wide (longer ones are shortened).
    pub(crate) fn new(entries: Vec<(String, Marker)>, max_width: u32) -> Legend {
        let font = 13.0;
        let entries = entries.into_iter().map(|(text, m)| (elide(&text, font, max_width), m)).collect();
        Legend { entries, font }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn row_height(&self) -> u32 {
        (self.font * 1.45).ceil() as u32
    }

    /// Width and height in pixels, border included.
    pub(crate) fn size(&self) -> (u32, u32) {
        if self.entries.is_empty() {
            return (0, 0);
        }
        let text = self.entries.iter().map(|(t, _)| text_size(t, self.font).0).max().unwrap_or(0);
        (PAD * 2 + MARKER + GAP + text, PAD * 2 + self.row_height() * self.entries.len() as u32)
    }

    /// Draws the legend with its top left corner at `at` (pixels of `area`).
    pub(crate) fn draw<DB: DrawingBackend>(&self, area: &Area<DB>, at: (i32, i32)) -> Drawn {
        if self.entries.is_empty() {
            return Ok(());
        }
        let (w, h) = self.size();
        let (x0, y0) = at;
        area.draw(&Rectangle::new([(x0, y0), (x0 + w as i32, y0 + h as i32)], WHITE.mix(0.92).filled()))
            .map_err(fail)?;
        area.draw(&Rectangle::new([(x0, y0), (x0 + w as i32, y0 + h as i32)], BLACK.mix(0.5).stroke_width(1)))
            .map_err(fail)?;
        let row = self.row_height() as i32;
        let style = TextStyle::from((FONT, self.font).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        for (i, (text, marker)) in self.entries.iter().enumerate() {
            let cy = y0 + PAD as i32 + row * i as i32 + row / 2;
            let mx = x0 + PAD as i32;
            match *marker {
                Marker::Line(color, width) => area
                    .draw(&PathElement::new(vec![(mx, cy), (mx + MARKER as i32, cy)], color.stroke_width(width)))
                    .map_err(fail)?,
                Marker::Dot(color, radius) => area
                    .draw(&Circle::new((mx + MARKER as i32 / 2, cy), radius as i32, color.filled()))
                    .map_err(fail)?,
            }
            area.draw_text(text, &style, (mx + (MARKER + GAP) as i32, cy)).map_err(fail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_grows_with_entries_and_text_and_long_text_is_shortened() {
        let one = Legend::new(vec![("train".into(), Marker::Line(BLACK, 2))], 300);
        let two = Legend::new(
            vec![("train".into(), Marker::Line(BLACK, 2)), ("validation loss".into(), Marker::Dot(BLACK, 3))],
            300,
        );
        assert!(two.size().0 > one.size().0 && two.size().1 > one.size().1);
        let long = Legend::new(vec![("x".repeat(400), Marker::Dot(BLACK, 3))], 200);
        assert!(long.size().0 <= 200 + PAD * 2 + MARKER + GAP, "{:?}", long.size());
        assert_eq!(Legend::new(Vec::new(), 100).size(), (0, 0));
    }
}
