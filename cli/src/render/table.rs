//! Column-aligned text tables: a header row, then one row per record; text
//! columns left-aligned, number columns right-aligned, two spaces between
//! columns, no trailing spaces. Every header and cell goes through
//! [`sanitize::clean`]: no control character from the network reaches the
//! terminal.

use crate::sanitize;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table being built; [`Table::render`] lays it out.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a column (call before adding rows).
    pub fn column(mut self, header: impl Into<String>, align: Align) -> Self {
        self.headers.push(sanitize::cleaned(&header.into()));
        self.aligns.push(align);
        self
    }

    /// Adds a row; missing cells are blank, extra cells are an error of the caller.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert!(cells.len() <= self.headers.len(), "more cells than columns");
        self.rows
            .push(cells.iter().map(|c| sanitize::cleaned(c)).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The laid-out table, one line per row (header first), each ending in `\n`.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .chain(std::iter::once(&self.headers[c]))
                    .map(|s| width(s))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(self.rows.iter()) {
            let mut line = String::new();
            for (c, w) in widths.iter().enumerate() {
                let cell = row.get(c).map(String::as_str).unwrap_or("");
                if c > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(w - width(cell));
                match self.aligns[c] {
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&pad);
                    }
                    Align::Right => {
                        line.push_str(&pad);
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Display width of a cell: characters, which is right for the ASCII and
/// Latin text these tables hold.
fn width(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let mut t = Table::new()
            .column("name", Align::Left)
            .column("acc", Align::Right)
            .column("note", Align::Left);
        t.row(vec!["a".into(), "0.5".into(), "x".into()]);
        t.row(vec!["longer-name".into(), "0.9785".into(), "".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "name            acc  note");
        assert_eq!(lines[1], "a               0.5  x");
        assert_eq!(lines[2], "longer-name  0.9785");
        // The right-aligned column ends at the same place on every line.
        let end = lines[0].find("acc").unwrap() + 3;
        assert_eq!(&lines[1][end - 3..end], "0.5");
        assert_eq!(&lines[2][end - 6..end], "0.9785");
    }

    #[test]
    fn wide_characters_count_once() {
        let mut t = Table::new()
            .column("k", Align::Left)
            .column("v", Align::Left);
        t.row(vec!["·é".into(), "1".into()]);
        t.row(vec!["abc".into(), "2".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "·é   1");
        assert_eq!(lines[2], "abc  2");
    }

    #[test]
    fn no_rows_is_just_the_header() {
        let t = Table::new()
            .column("id", Align::Left)
            .column("n", Align::Right);
        assert!(t.is_empty());
        assert_eq!(t.render(), "id  n\n");
    }
}
