//! Text from the network made safe to print on a terminal: sweep names,
//! trial and worker ids, hostnames, errors and swept values come from
//! whoever submitted or reported them, and a terminal obeys the control
//! characters in what it prints (clear the screen, set the window title,
//! rewrite the line with `\r`). [`clean`] drops ANSI escape sequences
//! (CSI `ESC [ … final`, OSC `ESC ] … BEL/ST` and the other `ESC x`), every
//! other C0 and C1 control, DEL and the Unicode bidirectional overrides;
//! a line break becomes a visible `\n` and a tab a space. Plain text,
//! accents and symbols included, is kept as it is.
//!
//! Used by the text and table renderers only: JSON escapes controls itself
//! and CSV quotes them, and both keep the data as sent.

use std::borrow::Cow;

/// ESC.
const ESC: char = '\u{1b}';
/// BEL, which ends an OSC sequence.
const BEL: char = '\u{7}';

/// `text` without controls or escape sequences (unchanged when it has none).
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\t' => out.push(' '),
            ESC => match chars.next() {
                // CSI: parameters and intermediates up to a final byte.
                Some('[') => skip_csi(&mut chars),
                // OSC, DCS, PM, APC, SOS: a string up to BEL or ST (ESC \).
                Some(']' | 'P' | '^' | '_' | 'X') => skip_string(&mut chars),
                // Any other escape: ESC and the one character after it.
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{9e}' | '\u{9f}' | '\u{98}' => skip_string(&mut chars),
            c if is_unsafe(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`clean`], owned.
pub fn cleaned(text: &str) -> String {
    clean(text).into_owned()
}

/// A control character, DEL, or a bidirectional override or isolate.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Skips a CSI sequence's parameter and intermediate bytes and its final byte.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) || (is_unsafe(c) && c != ESC) {
            return;
        }
    }
}

/// Skips a control string up to BEL, ST (`ESC \` or U+009C).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            BEL | '\u{9c}' => return,
            ESC => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_dropped() {
        assert_eq!(clean("a\x1b[2J\x1b]0;pwned\x07b"), "ab");
        assert_eq!(clean("\x1b[1;31mred\x1b[0m"), "red");
        assert_eq!(
            clean("x\x1b]8;;http://e.vil\x1b\\link\x1b]8;;\x1b\\y"),
            "xlinky"
        );
        assert_eq!(clean("over\rwrite"), "overwrite");
        assert_eq!(clean("bell\x07 del\x7f nul\0 c1\u{85}"), "bell del nul c1");
        assert_eq!(clean("\u{9b}2Jcsi"), "csi");
        assert_eq!(clean("evil\u{202e}txt.exe"), "eviltxt.exe");
        assert_eq!(clean("trailing\x1b"), "trailing");
        assert_eq!(clean("unterminated\x1b]0;title"), "unterminated");
    }

    #[test]
    fn line_breaks_become_visible_and_tabs_spaces() {
        assert_eq!(clean("one\ntwo\r\nthree\tfour"), "one\\ntwo\\nthree four");
    }

    #[test]
    fn plain_text_is_kept_and_borrowed() {
        for text in [
            "lr-unfreeze-grid",
            "héllo · 0.9785 [layer3,layer4]",
            "日本",
            "",
        ] {
            assert!(matches!(clean(text), Cow::Borrowed(t) if t == text));
        }
    }
}
