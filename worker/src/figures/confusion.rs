//! The confusion-matrix figure a trial leaves (`confusion.png`): one cell per
//! (true class, predicted class), rows true and columns predicted (labelled
//! `t` and `p`), shaded white → dark blue by the row's share, the count
//! written in it.

use super::canvas::{Canvas, Rgb, BLACK, WHITE};
use super::png;

/// Pixels per cell side.
const CELL: usize = 28;
/// Scale of the class labels.
const LABEL: usize = 2;
/// Room left of and above the grid for the labels.
const MARGIN: usize = 26;

/// The PNG of `confusion[true][predicted]` (square or not: each row as
/// long as the longest, missing counts 0). An empty matrix draws one empty
/// cell.
pub fn render(confusion: &[Vec<u64>]) -> Vec<u8> {
    let c = draw(confusion);
    png::encode_rgb(c.width as u32, c.height as u32, &c.pixels)
}

/// The figure as a canvas.
pub fn draw(confusion: &[Vec<u64>]) -> Canvas {
    let rows = confusion.len().max(1);
    let cols = confusion.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut canvas = Canvas::new(MARGIN + cols * CELL + 2, MARGIN + rows * CELL + 2, WHITE);
    canvas.text((2, 2), "t", LABEL, BLACK);
    canvas.text((MARGIN - 10, 2), "p", LABEL, BLACK);
    for col in 0..cols {
        let label = col.to_string();
        let x = MARGIN + col * CELL + (CELL.saturating_sub(Canvas::text_width(&label, LABEL))) / 2;
        canvas.text((x, 8), &label, LABEL, BLACK);
    }
    for (row, counts) in confusion.iter().enumerate() {
        let label = row.to_string();
        let y = MARGIN + row * CELL + (CELL - 5 * LABEL) / 2;
        canvas.text((4, y), &label, LABEL, BLACK);
        let total: u64 = counts.iter().sum();
        for col in 0..cols {
            let n = counts.get(col).copied().unwrap_or(0);
            let share = if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            };
            let (x, y) = (MARGIN + col * CELL, MARGIN + row * CELL);
            canvas.fill(x, y, CELL - 1, CELL - 1, shade(share));
            let text = n.to_string();
            let width = Canvas::text_width(&text, 1);
            if width < CELL {
                let ink = if share > 0.5 { WHITE } else { BLACK };
                canvas.text((x + (CELL - width) / 2, y + (CELL - 5) / 2), &text, 1, ink);
            }
        }
    }
    canvas
}

/// White (0) to dark blue (1).
fn shade(share: f64) -> Rgb {
    let s = share.clamp(0.0, 1.0);
    let mix = |from: f64, to: f64| (from + (to - from) * s).round() as u8;
    [mix(255.0, 8.0), mix(255.0, 48.0), mix(255.0, 107.0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_shaded_by_the_rows_share() {
        let m = vec![vec![9, 1], vec![0, 10]];
        let c = draw(&m);
        assert_eq!(
            (c.width, c.height),
            (MARGIN + 2 * CELL + 2, MARGIN + 2 * CELL + 2)
        );
        // A corner pixel of each cell (away from the count text).
        let at = |row: usize, col: usize| c.get(MARGIN + col * CELL + 1, MARGIN + row * CELL + 1);
        assert_eq!(at(1, 1), shade(1.0));
        assert_eq!(at(1, 0), WHITE);
        assert_eq!(at(0, 1), shade(0.1));
        let png = render(&m);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&render(&[])[..8], b"\x89PNG\r\n\x1a\n");
    }
}
