//! The Grad-CAM figure: a grid of test images, each drawn plain and with
//! its heat-map over it, labelled `t<true> p<predicted>` and framed red when
//! misclassified, green when right; misclassified images come first.

use super::canvas::{Canvas, BLACK, GREEN, RED, WHITE};
use super::font;

/// One image of the grid.
#[derive(Debug, Clone)]
pub struct Cell {
    /// `side` × `side` grayscale in [0, 1] (the network input, un-normalised).
    pub gray: Vec<f32>,
    /// Grad-CAM map of the predicted class, same size, in [0, 1].
    pub heat: Vec<f32>,
    pub truth: i64,
    pub predicted: i64,
    /// Softmax probability of the predicted class.
    pub confidence: f64,
}

/// Images per row of the grid.
const COLUMNS: usize = 6;
const BORDER: usize = 3;
const GAP: usize = 8;
const TEXT_SCALE: usize = 2;
/// Heat-map opacity over the image.
const ALPHA: f32 = 0.5;

/// The grid's order on (truth, predicted, confidence): misclassified first
/// (most confident first), then right ones (least confident first, the hard
/// cases).
pub fn compare(a: (i64, i64, f64), b: (i64, i64, f64)) -> std::cmp::Ordering {
    let wrong = |c: (i64, i64, f64)| c.0 != c.1;
    wrong(b).cmp(&wrong(a)).then_with(|| {
        if wrong(a) {
            b.2.total_cmp(&a.2)
        } else {
            a.2.total_cmp(&b.2)
        }
    })
}

/// Draws `cells` (already in order) of `side` px each.
pub fn draw(cells: &[Cell], side: usize) -> Canvas {
    let scale = (96 / side).max(1);
    let img = side * scale;
    let label_h = font::HEIGHT * TEXT_SCALE + 4;
    let cell_w = 2 * img + 2 * BORDER + GAP / 2;
    let cell_h = img + 2 * BORDER + label_h;
    let cols = COLUMNS.min(cells.len()).max(1);
    let rows = cells.len().div_ceil(cols).max(1);
    let mut canvas = Canvas::new(
        cols * (cell_w + GAP) + GAP,
        rows * (cell_h + GAP) + GAP,
        WHITE,
    );
    for (i, c) in cells.iter().enumerate() {
        let x = GAP + (i % cols) * (cell_w + GAP);
        let y = GAP + (i / cols) * (cell_h + GAP);
        let frame = if c.truth == c.predicted { GREEN } else { RED };
        let label = format!("t{} p{} {:.2}", c.truth, c.predicted, c.confidence);
        canvas.text((x, y), &label, TEXT_SCALE, BLACK);
        let top = y + label_h;
        canvas.fill(x, top, cell_w, img + 2 * BORDER, frame);
        canvas.image((x + BORDER, top + BORDER), side, scale, &c.gray, None, 0.0);
        let right = x + BORDER + img + GAP / 2;
        canvas.image(
            (right, top + BORDER),
            side,
            scale,
            &c.gray,
            Some(&c.heat),
            ALPHA,
        );
    }
    canvas
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(truth: i64, predicted: i64, confidence: f64) -> Cell {
        Cell {
            gray: vec![0.5; 4],
            heat: vec![1.0; 4],
            truth,
            predicted,
            confidence,
        }
    }

    #[test]
    fn misclassified_come_first_most_confident_first() {
        let mut cells = [(1, 1, 0.9), (2, 3, 0.6), (4, 4, 0.7), (5, 6, 0.8)];
        cells.sort_by(|&a, &b| compare(a, b));
        let got: Vec<(i64, i64)> = cells.iter().map(|c| (c.0, c.1)).collect();
        assert_eq!(got, [(5, 6), (2, 3), (4, 4), (1, 1)]);
    }

    #[test]
    fn frames_say_right_or_wrong() {
        let canvas = draw(&[cell(1, 1, 0.9), cell(2, 3, 0.6)], 2);
        // scale 48 for 2 px images; the frame's corner under each label.
        let label_h = font::HEIGHT * TEXT_SCALE + 4;
        let cell_w = 2 * 96 + 2 * BORDER + GAP / 2;
        assert_eq!(canvas.get(GAP, GAP + label_h), GREEN);
        assert_eq!(canvas.get(GAP + cell_w + GAP, GAP + label_h), RED);
    }
}
