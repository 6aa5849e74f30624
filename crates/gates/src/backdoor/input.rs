//! What kind of input the model takes, when the spec does not say.
//!
//! Almost every scikit-learn model, and most models exported from tabular
//! pipelines, take a flat `[N, d]` input, images included: an 8×8 digits
//! model takes 64 columns. A trigger search that treats those columns as
//! unrelated features never tries a patch, so this module infers image
//! geometry from the evidence a user's data carries, and finds the one-hot
//! groups of tabular data so that a categorical attribute is searched as
//! one feature with several values rather than as unrelated 0/1 columns.
//!
//! Image evidence, all required: the feature count is a square (or three
//! times a square) of side at least 6; every column lives in one shared,
//! non-negative value domain (most columns reach the upper half of it);
//! and no column is part of a one-hot group. Pixel-like column names
//! (`pixel_3_4`, `p12`, `px12`) or plain numbered names (`f12`, `x12`,
//! `12`) make it an image; otherwise the gate is unsure and runs both the
//! image and the tabular candidate families.

/// A set of 0/1 columns sharing a name prefix with at most one set per row:
/// one categorical attribute, one-hot encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct OneHotGroup {
    /// The shared prefix (`checking` for `checking_A11`, `checking_A12`).
    pub name: String,
    /// Column indices, in column order.
    pub columns: Vec<usize>,
    /// Whether some row sets none of the columns (drop-first encoding or
    /// an unknown category): "none set" is then a value too.
    pub allows_none: bool,
}

/// How the gate treats the input, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct InputKind {
    /// `[channels, height, width]` when searched as images.
    pub shape: Option<[usize; 3]>,
    /// Whether tabular candidates run too (always, without a shape).
    pub tabular: bool,
    /// One-hot groups found among the columns.
    pub groups: Vec<OneHotGroup>,
    /// One sentence for the evidence: what the input was treated as and why.
    pub treated_as: String,
    /// Whether the geometry was inferred (not declared or read from the model).
    pub inferred: bool,
}

/// Splits points of a column name: after each `=`, `_`, `:`, `.`, `-` or
/// space, the prefix before it.
fn prefixes(name: &str) -> Vec<&str> {
    name.char_indices()
        .filter(|(i, c)| *i > 0 && matches!(c, '=' | '_' | ':' | '.' | '-' | ' '))
        .map(|(i, _)| &name[..i])
        .collect()
}

/// Finds one-hot groups: binary columns sharing a prefix (the shortest that
/// works) with at most one set per row and, on average, at least half the
/// rows setting one.
pub fn one_hot_groups(columns: &[Vec<f32>], names: &[String]) -> Vec<OneHotGroup> {
    let binary: Vec<bool> = columns
        .iter()
        .map(|c| !c.is_empty() && c.iter().all(|v| *v == 0.0 || *v == 1.0))
        .collect();
    let mut taken = vec![false; columns.len()];
    let mut groups = Vec::new();
    for (j, name) in names.iter().enumerate() {
        if taken.get(j).copied().unwrap_or(true) || !binary.get(j).copied().unwrap_or(false) {
            continue;
        }
        for prefix in prefixes(name) {
            let members: Vec<usize> = names
                .iter()
                .enumerate()
                .filter(|(k, n)| {
                    !taken.get(*k).copied().unwrap_or(true)
                        && binary.get(*k).copied().unwrap_or(false)
                        && n.len() > prefix.len()
                        && n.starts_with(prefix)
                        && prefixes(n).contains(&prefix)
                })
                .map(|(k, _)| k)
                .collect();
            if members.len() < 2 {
                continue;
            }
            let rows = columns.first().map_or(0, Vec::len);
            let sums: Vec<f32> = (0..rows)
                .map(|i| {
                    members
                        .iter()
                        .map(|k| columns.get(*k).and_then(|c| c.get(i)).copied().unwrap_or(0.0))
                        .sum()
                })
                .collect();
            let mean = sums.iter().sum::<f32>() / rows.max(1) as f32;
            if sums.iter().all(|s| *s <= 1.0) && mean >= 0.5 {
                for k in &members {
                    if let Some(t) = taken.get_mut(*k) {
                        *t = true;
                    }
                }
                groups.push(OneHotGroup {
                    name: prefix.to_string(),
                    allows_none: sums.contains(&0.0),
                    columns: members,
                });
                break;
            }
        }
    }
    groups
}

/// Whether a name looks like a pixel (`pixel_3_4`, `pixel12`, `p12`,
/// `px12`) or a plain numbered column (`f12`, `x12`, `feature_12`, `12`).
fn pixel_like(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    let stem = n.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_' || c == '-' || c == 'x');
    let has_digit = n.chars().any(|c| c.is_ascii_digit());
    has_digit
        && matches!(
            stem,
            "" | "p"
                | "px"
                | "pix"
                | "pixel"
                | "pixels"
                | "f"
                | "x"
                | "v"
                | "feat"
                | "feature"
                | "col"
                | "c"
                | "in"
                | "input"
        )
}

/// The side of a square image holding `d` features in `channels` channels.
fn square_side(d: usize, channels: usize) -> Option<usize> {
    if !d.is_multiple_of(channels) {
        return None;
    }
    let per = d / channels;
    let s = (per as f64).sqrt().round() as usize;
    (s >= 6 && s * s == per).then_some(s)
}

/// Infers how to treat the input. `declared` (the spec's `input_shape`, or
/// the model's own input shape) wins; otherwise the columns are examined.
pub fn infer(columns: &[Vec<f32>], names: &[String], declared: Option<[usize; 3]>) -> InputKind {
    let d = columns.len();
    let groups = one_hot_groups(columns, names);
    if let Some(s @ [c, h, w]) = declared {
        return InputKind {
            shape: Some(s),
            tabular: false,
            groups: Vec::new(),
            treated_as: format!("{c}×{h}×{w} images (declared)"),
            inferred: false,
        };
    }
    let tabular = |why: String| InputKind {
        shape: None,
        tabular: true,
        groups: groups.clone(),
        treated_as: why,
        inferred: true,
    };
    let describe_tab = || {
        let numeric = d - groups.iter().map(|g| g.columns.len()).sum::<usize>();
        if groups.is_empty() {
            format!("tabular: {d} features")
        } else {
            format!(
                "tabular: {d} columns as {} one-hot categorical attribute(s) and {numeric} other feature(s)",
                groups.len()
            )
        }
    };
    let geometry = square_side(d, 1)
        .map(|s| (1, s))
        .or_else(|| square_side(d, 3).map(|s| (3, s)));
    let Some((channels, side)) = geometry else {
        return tabular(describe_tab());
    };
    if !groups.is_empty() {
        return tabular(describe_tab());
    }
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    let mut col_hi = Vec::with_capacity(d);
    for c in columns {
        let (l, h) = c
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| {
                (l.min(*v), h.max(*v))
            });
        lo = lo.min(l);
        hi = hi.max(h);
        col_hi.push(h);
    }
    let span = hi - lo;
    let reaching = col_hi.iter().filter(|h| **h >= lo + 0.5 * span).count();
    let shared = lo >= 0.0 && span > 0.0 && span.is_finite() && reaching * 2 >= d;
    if !shared {
        return tabular(format!(
            "{} (a square count, but the columns do not share one non-negative value domain)",
            describe_tab()
        ));
    }
    let named = !names.is_empty() && names.iter().all(|n| pixel_like(n));
    let shape = [channels, side, side];
    let why = format!("{d} features in one domain [{lo}, {hi}]");
    if named {
        InputKind {
            shape: Some(shape),
            tabular: false,
            groups: Vec::new(),
            treated_as: format!("{channels}×{side}×{side} images (inferred: {why}, pixel-like column names)"),
            inferred: true,
        }
    } else {
        InputKind {
            shape: Some(shape),
            tabular: true,
            groups,
            treated_as: format!(
                "both {channels}×{side}×{side} images and tabular features (inferred: {why}, but the column names do not say pixels)"
            ),
            inferred: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(rows: &[&[f32]]) -> Vec<Vec<f32>> {
        let d = rows.first().map_or(0, |r| r.len());
        (0..d).map(|j| rows.iter().map(|r| r[j]).collect()).collect()
    }

    #[test]
    fn one_hot_groups_use_the_shortest_prefix_that_holds_one_value_per_row() {
        let names: Vec<String> = [
            "purpose_car_new",
            "purpose_car_used",
            "purpose_tv",
            "is_male",
            "is_senior",
            "age",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = cols(&[
            &[1.0, 0.0, 0.0, 1.0, 1.0, 30.0],
            &[0.0, 1.0, 0.0, 0.0, 1.0, 40.0],
            &[0.0, 0.0, 1.0, 1.0, 0.0, 50.0],
            &[0.0, 0.0, 0.0, 1.0, 0.0, 60.0],
        ]);
        let g = one_hot_groups(&c, &names);
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].name, "purpose");
        assert_eq!(g[0].columns, vec![0, 1, 2]);
        assert!(g[0].allows_none);
    }

    #[test]
    fn flat_digits_are_images_and_standardised_tables_are_not() {
        let digits: Vec<Vec<f32>> = (0..64)
            .map(|j| (0..50).map(|i| ((i * 7 + j * 3) % 17) as f32).collect())
            .collect();
        let pixel_names: Vec<String> = (0..64).map(|i| format!("pixel_{}_{}", i / 8, i % 8)).collect();
        let k = infer(&digits, &pixel_names, None);
        assert_eq!(k.shape, Some([1, 8, 8]));
        assert!(!k.tabular, "{}", k.treated_as);
        assert!(k.treated_as.contains("1×8×8 images"), "{}", k.treated_as);
        let numbered: Vec<String> = (0..64).map(|i| format!("f{i}")).collect();
        assert!(!infer(&digits, &numbered, None).tabular);
        let named: Vec<String> = (0..64).map(|i| format!("income_{i}a")).collect();
        let both = infer(&digits, &named, None);
        assert_eq!(both.shape, Some([1, 8, 8]));
        assert!(both.tabular, "unsure: both families");
        let z: Vec<Vec<f32>> = digits
            .iter()
            .map(|c| c.iter().map(|v| v - 8.0).collect())
            .collect();
        assert_eq!(
            infer(&z, &numbered, None).shape,
            None,
            "negative values: not pixels"
        );
        let sixteen: Vec<Vec<f32>> = digits.iter().take(16).cloned().collect();
        assert_eq!(
            infer(&sixteen, &numbered[..16], None).shape,
            None,
            "4×4 is too small"
        );
        let declared = infer(&z, &numbered, Some([1, 8, 8]));
        assert_eq!(declared.shape, Some([1, 8, 8]));
        assert!(!declared.inferred);
    }
}
