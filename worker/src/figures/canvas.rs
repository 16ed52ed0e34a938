//! An RGB canvas to draw figures on: filled rectangles, scaled grayscale
//! images with a heat-map blended over them, and text in [`super::font`].

use super::font;

pub type Rgb = [u8; 3];

pub const WHITE: Rgb = [255, 255, 255];
pub const BLACK: Rgb = [0, 0, 0];
pub const RED: Rgb = [200, 30, 30];
pub const GREEN: Rgb = [30, 140, 60];

/// A `width` × `height` RGB image, row-major.
#[derive(Debug, Clone)]
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Canvas {
    pub fn new(width: usize, height: usize, background: Rgb) -> Self {
        Self {
            width,
            height,
            pixels: background.repeat(width * height),
        }
    }

    /// Sets one pixel; outside the canvas nothing happens.
    pub fn set(&mut self, x: usize, y: usize, c: Rgb) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            self.pixels[i..i + 3].copy_from_slice(&c);
        }
    }

    pub fn get(&self, x: usize, y: usize) -> Rgb {
        let i = (y * self.width + x) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    pub fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, c: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, c);
            }
        }
    }

    /// Draws a `side` × `side` grayscale image (values in [0, 1]) at (x, y),
    /// each pixel a `scale` × `scale` block, with `heat` (same size, in
    /// [0, 1], or none) blended over it at `alpha` in the turbo-like colour
    /// map of [`heat_colour`].
    pub fn image(
        &mut self,
        (x, y): (usize, usize),
        side: usize,
        scale: usize,
        gray: &[f32],
        heat: Option<&[f32]>,
        alpha: f32,
    ) {
        for py in 0..side {
            for px in 0..side {
                let g = gray[py * side + px].clamp(0.0, 1.0) * 255.0;
                let base = [g, g, g];
                let c = match heat {
                    Some(h) => {
                        let hc = heat_colour(h[py * side + px]);
                        [0, 1, 2].map(|k| ((1.0 - alpha) * base[k] + alpha * hc[k] as f32) as u8)
                    }
                    None => base.map(|v| v as u8),
                };
                self.fill(x + px * scale, y + py * scale, scale, scale, c);
            }
        }
    }

    /// Writes `text` with its top-left corner at (x, y), glyph pixels
    /// `scale` × `scale`; characters the font lacks are left blank.
    pub fn text(&mut self, (x, y): (usize, usize), text: &str, scale: usize, c: Rgb) {
        for (i, ch) in text.chars().enumerate() {
            let gx = x + i * (font::WIDTH + 1) * scale;
            for (row, bits) in font::glyph(ch).iter().enumerate() {
                for col in 0..font::WIDTH {
                    if bits & (1 << (font::WIDTH - 1 - col)) != 0 {
                        self.fill(gx + col * scale, y + row * scale, scale, scale, c);
                    }
                }
            }
        }
    }

    /// Width in pixels of `text` at `scale`.
    pub fn text_width(text: &str, scale: usize) -> usize {
        text.chars().count() * (font::WIDTH + 1) * scale
    }
}

/// Blue (0) → cyan → green → yellow → red (1): a jet-like map.
pub fn heat_colour(v: f32) -> Rgb {
    let v = v.clamp(0.0, 1.0);
    let channel = |centre: f32| ((1.5 - (4.0 * v - centre).abs()).clamp(0.0, 1.0) * 255.0) as u8;
    [channel(3.0), channel(2.0), channel(1.0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heat_map_runs_from_blue_to_red() {
        assert_eq!(heat_colour(0.0), [0, 0, 127]);
        assert_eq!(heat_colour(1.0), [127, 0, 0]);
        assert_eq!(heat_colour(0.5), [127, 255, 127]);
    }

    #[test]
    fn text_and_images_land_where_asked() {
        let mut c = Canvas::new(40, 20, WHITE);
        c.text((1, 1), "7", 1, BLACK);
        // '7' has a full top row.
        assert_eq!(c.get(1, 1), BLACK);
        assert_eq!(c.get(3, 1), BLACK);
        assert_eq!(c.get(0, 0), WHITE);
        c.image((20, 0), 2, 2, &[0.0, 1.0, 1.0, 0.0], None, 0.0);
        assert_eq!(c.get(20, 0), BLACK);
        assert_eq!(c.get(22, 0), WHITE);
        assert_eq!(c.get(23, 1), WHITE);
        assert_eq!(c.get(22, 2), BLACK);
    }
}
