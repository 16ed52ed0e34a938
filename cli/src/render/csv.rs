//! CSV text (RFC 4180): a header row, then one row per record; a field is
//! quoted when it holds a comma, a quote, a line break or edge spaces, and
//! quotes inside are doubled. Lines end in `\n`.

/// The whole document.
pub fn document(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in std::iter::once(headers).chain(rows.iter().map(Vec::as_slice)) {
        let line: Vec<String> = row.iter().map(|f| field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// One field, quoted if it needs to be.
pub fn field(text: &str) -> String {
    let needs_quotes =
        text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ');
    if needs_quotes {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_fields_stay_bare() {
        assert_eq!(field("0.9785"), "0.9785");
        assert_eq!(field("layer4"), "layer4");
        assert_eq!(field(""), "");
    }

    #[test]
    fn special_fields_are_quoted_and_quotes_doubled() {
        assert_eq!(field("[layer3,layer4]"), "\"[layer3,layer4]\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field(" pad"), "\" pad\"");
    }

    #[test]
    fn controls_are_kept_and_line_breaks_quoted() {
        assert_eq!(field("a\r\nb"), "\"a\r\nb\"");
        assert_eq!(field("cr\ronly"), "\"cr\ronly\"");
        assert_eq!(field("\x1b[2J\"q\",x"), "\"\x1b[2J\"\"q\"\",x\"");
    }

    #[test]
    fn document_has_a_header_and_one_line_per_row() {
        let headers = vec!["a".to_string(), "b,c".to_string()];
        let rows = vec![
            vec!["1".to_string(), "x".to_string()],
            vec!["2".to_string(), "".to_string()],
        ];
        assert_eq!(document(&headers, &rows), "a,\"b,c\"\n1,x\n2,\n");
    }
}
