//! Lenient spec values for the classic-ML gates.
//!
//! The same keys come from a policy file (typed YAML: `samples: 100`,
//! `attack: [noise, square]`) and from `eval --set KEY=VALUE` (strings:
//! `samples=100`, `attack=noise,square`). These deserialisers accept both
//! spellings so one struct with `deny_unknown_fields` serves both.

use serde::de::{self, Deserializer};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(f64),
    Str(String),
}

fn parse_f64<E: de::Error>(v: NumOrStr) -> Result<f64, E> {
    match v {
        NumOrStr::Num(n) => Ok(n),
        NumOrStr::Str(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| E::custom(format!("'{s}' is not a number"))),
    }
}

/// An optional number written as a number or a numeric string.
pub(crate) fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Option::<NumOrStr>::deserialize(d)?.map(parse_f64).transpose()
}

/// An optional non-negative integer written as a number or a string.
pub(crate) fn opt_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match opt_f64::<D>(d)? {
        None => Ok(None),
        Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= 1e12 => Ok(Some(v as usize)),
        Some(v) => Err(de::Error::custom(format!("{v} is not a non-negative integer"))),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrStr<T> {
    List(Vec<T>),
    Str(String),
}

/// A list of strings, or one comma-separated string.
pub(crate) fn str_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Option::<ListOrStr<String>>::deserialize(d)? {
        None => Vec::new(),
        Some(ListOrStr::List(v)) => v,
        Some(ListOrStr::Str(s)) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
    })
}

/// As [`str_list`], but an absent key stays `None` (so `[]` can mean
/// "none" rather than "the default").
pub(crate) fn opt_str_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(match Option::<ListOrStr<String>>::deserialize(d)? {
        None => None,
        Some(ListOrStr::List(v)) => Some(v),
        Some(ListOrStr::Str(s)) => Some(
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
        ),
    })
}

/// A list of numbers, or one comma-separated string (`0,16`, `[1,8,8]`).
pub(crate) fn num_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f64>>, D::Error> {
    match Option::<ListOrStr<NumOrStr>>::deserialize(d)? {
        None => Ok(None),
        Some(ListOrStr::List(v)) => v.into_iter().map(parse_f64).collect::<Result<_, _>>().map(Some),
        Some(ListOrStr::Str(s)) => s
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<f64>()
                    .map_err(|_| de::Error::custom(format!("'{p}' is not a number")))
            })
            .collect::<Result<_, _>>()
            .map(Some),
    }
}

/// Groups of names: a list of lists, or `a|b|c;d|e` as one string.
pub(crate) fn groups<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<String>>, D::Error> {
    Ok(match Option::<ListOrStr<Vec<String>>>::deserialize(d)? {
        None => Vec::new(),
        Some(ListOrStr::List(v)) => v,
        Some(ListOrStr::Str(s)) => s
            .split(';')
            .map(|g| {
                g.split(['|', ','])
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|g: &Vec<String>| !g.is_empty())
            .collect(),
    })
}

/// An optional boolean written as a bool or `true`/`false`.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrStr {
        Bool(bool),
        Str(String),
    }
    match Option::<BoolOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(BoolOrStr::Bool(b)) => Ok(Some(b)),
        Some(BoolOrStr::Str(s)) => match s.trim() {
            "true" | "yes" => Ok(Some(true)),
            "false" | "no" => Ok(Some(false)),
            other => Err(de::Error::custom(format!("'{other}' is not true or false"))),
        },
    }
}
