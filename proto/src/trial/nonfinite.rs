//! The JSON encoding of metric values that may be NaN or infinite (a trial
//! whose loss diverged): a finite `f64` is written as a JSON number, NaN as
//! the string `"NaN"`, +∞ as `"inf"` and −∞ as `"-inf"`.
//!
//! On read, a number, one of those three strings (also `"+inf"`, `"nan"`,
//! `"Infinity"` and `"-Infinity"`, any case) or `null` is accepted; `null` reads as
//! NaN, because that is what plain serde_json writes for a non-finite `f64`
//! (results of workers built before this encoding). Any other string is
//! refused.
//!
//! Use it per field: `#[serde(with = "nonfinite")]` on an `f64`,
//! `#[serde(with = "nonfinite::vec")]` on a `Vec<f64>`.

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The text of NaN.
pub const NAN: &str = "NaN";
/// The text of +∞.
pub const INF: &str = "inf";
/// The text of −∞.
pub const NEG_INF: &str = "-inf";

/// Writes `v`: a number when finite, else its string.
pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    match text_of(*v) {
        None => s.serialize_f64(*v),
        Some(text) => s.serialize_str(text),
    }
}

/// Reads a number, a non-finite string or `null` (NaN).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(FloatVisitor)
}

/// The string of a non-finite value; `None` for a finite one.
pub fn text_of(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some(NAN)
    } else if v == f64::INFINITY {
        Some(INF)
    } else if v == f64::NEG_INFINITY {
        Some(NEG_INF)
    } else {
        None
    }
}

/// The value of a non-finite string (see the module docs); `None` otherwise.
pub fn parse_text(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// One `f64` in this encoding, for containers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Encoded(f64);

impl Serialize for Encoded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Encoded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize(d).map(Encoded)
    }
}

/// The same encoding for every element of a `Vec<f64>`.
pub mod vec {
    use super::Encoded;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&x| Encoded(x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v = Vec::<Encoded>::deserialize(d)?;
        Ok(v.into_iter().map(|e| e.0).collect())
    }
}

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"a number, "NaN", "inf", "-inf" or null"#)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        parse_text(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }

    fn visit_none<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct One {
        #[serde(with = "super")]
        x: f64,
        #[serde(with = "super::vec")]
        v: Vec<f64>,
    }

    fn write(x: f64) -> String {
        serde_json::to_string(&One { x, v: vec![] }).unwrap()
    }

    fn read(json: &str) -> Result<f64, serde_json::Error> {
        serde_json::from_str::<One>(&format!(r#"{{"x": {json}, "v": []}}"#)).map(|o| o.x)
    }

    #[test]
    fn finite_values_stay_numbers() {
        assert_eq!(write(0.25), r#"{"x":0.25,"v":[]}"#);
        assert_eq!(write(-3.0), r#"{"x":-3.0,"v":[]}"#);
        assert_eq!(read("0.25").unwrap(), 0.25);
        assert_eq!(read("7").unwrap(), 7.0);
        assert_eq!(read("-7").unwrap(), -7.0);
        assert_eq!(read("1e308").unwrap(), 1e308);
    }

    #[test]
    fn non_finite_values_are_strings_and_come_back() {
        assert_eq!(write(f64::NAN), r#"{"x":"NaN","v":[]}"#);
        assert_eq!(write(f64::INFINITY), r#"{"x":"inf","v":[]}"#);
        assert_eq!(write(f64::NEG_INFINITY), r#"{"x":"-inf","v":[]}"#);
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5, -0.0] {
            let o = One {
                x,
                v: vec![x, 1.0, x],
            };
            let back: One = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
            assert_eq!(back.x.to_bits(), x.to_bits(), "{x}");
            assert_eq!(back.v.len(), 3);
            assert_eq!(back.v[0].to_bits(), x.to_bits());
            assert_eq!(back.v[1], 1.0);
        }
    }

    #[test]
    fn null_and_spellings_are_read_leniently() {
        assert!(read("null").unwrap().is_nan());
        assert!(read(r#""nan""#).unwrap().is_nan());
        assert_eq!(read(r#""+inf""#).unwrap(), f64::INFINITY);
        assert_eq!(read(r#""Infinity""#).unwrap(), f64::INFINITY);
        assert_eq!(read(r#""-Infinity""#).unwrap(), f64::NEG_INFINITY);
        let v: One = serde_json::from_str(r#"{"x": 1, "v": [null, "inf", 2]}"#).unwrap();
        assert!(v.v[0].is_nan());
        assert_eq!(&v.v[1..], &[f64::INFINITY, 2.0]);
    }

    #[test]
    fn other_strings_and_types_are_refused() {
        for bad in [r#""""#, r#""0.5""#, r#""NaNa""#, "true", "[1]", "{}"] {
            assert!(read(bad).is_err(), "{bad} was accepted");
        }
        let msg = read(r#""huge""#).unwrap_err().to_string();
        assert!(msg.contains(r#""NaN", "inf", "-inf""#), "{msg}");
    }
}
