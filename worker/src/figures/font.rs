//! A 3 × 5 bitmap font for figure labels: digits and the few signs labels
//! use (`t`, `p`, `=`, `.`, `-`, `:`, space). Each row is 3 bits, the
//! leftmost pixel in the highest bit.

pub const WIDTH: usize = 3;
pub const HEIGHT: usize = 5;

/// The rows of `c`; blank for a character the font lacks.
pub fn glyph(c: char) -> [u8; HEIGHT] {
    match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        't' => [0b010, 0b111, 0b010, 0b010, 0b011],
        'p' => [0b000, 0b111, 0b101, 0b111, 0b100],
        '=' => [0b000, 0b111, 0b000, 0b111, 0b000],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        ':' => [0b000, 0b010, 0b000, 0b010, 0b000],
        _ => [0; HEIGHT],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_distinct_and_unknown_characters_blank() {
        let digits: Vec<[u8; HEIGHT]> = ('0'..='9').map(glyph).collect();
        for (i, a) in digits.iter().enumerate() {
            for b in &digits[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(glyph('x'), [0; HEIGHT]);
    }
}
