//! Training-data detectors for tabular data: poisoned rows as a small,
//! label-pure subgroup the rest of the data does not explain, and rows whose
//! label disagrees with their nearest neighbours'.
//!
//! A BadNets-style poisoning of a table stamps a trigger (a rare
//! combination of values) on a few percent of the training rows and
//! relabels them to the target class. In the training data that shows as a
//! subgroup — the rows holding the combination — that is (nearly) all of
//! one label, although what the rest of the data says about each of its
//! values predicts a mixed label. Subgroup discovery looks for exactly that:
//! conjunctions of two or three items (a categorical value, a 0/1 flag, a
//! quartile bin of a numeric feature) over different features, scored by a
//! binomial z of the observed share of their majority label against the
//! share predicted by adding, in log-odds, what each item says *outside the
//! subgroup* ("leave the subgroup out", so the poisoned rows do not vouch
//! for themselves).
//!
//! The nearest-neighbour score is the share of a row's ten nearest rows
//! (standardised Euclidean distance) holding another label; it ranks rows
//! for review and does not gate.

use super::input::OneHotGroup;

/// One item: rows holding a value of one feature.
#[derive(Debug, Clone)]
pub struct Item {
    /// The feature it belongs to; items of one feature never combine.
    pub feature: usize,
    /// `checking = A11`, `age in [19, 27)`.
    pub description: String,
    rows: Vec<u64>,
    count: usize,
}

fn bits(n: usize, f: impl Fn(usize) -> bool) -> Vec<u64> {
    let mut b = vec![0u64; n.div_ceil(64)];
    for i in (0..n).filter(|i| f(*i)) {
        if let Some(w) = b.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    b
}

fn and(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().zip(b).map(|(x, y)| x & y).collect()
}

fn count(a: &[u64]) -> usize {
    a.iter().map(|w| w.count_ones() as usize).sum()
}

fn count_and(a: &[u64], b: &[u64]) -> usize {
    a.iter().zip(b).map(|(x, y)| (x & y).count_ones() as usize).sum()
}

fn fmt(v: f32) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The items of a table: every value of a one-hot group, both values of a
/// 0/1 flag, every value of a numeric feature with at most 12 of them, else
/// its quartile bins.
pub fn items(columns: &[Vec<f32>], names: &[String], groups: &[OneHotGroup]) -> Vec<Item> {
    let n = columns.first().map_or(0, Vec::len);
    let name = |j: usize| names.get(j).cloned().unwrap_or_else(|| format!("feature {j}"));
    let col = |j: usize| columns.get(j).map(Vec::as_slice).unwrap_or(&[]);
    let mut out = Vec::new();
    let mut in_group = vec![false; columns.len()];
    let mut push = |feature: usize, description: String, rows: Vec<u64>| {
        let c = count(&rows);
        if c > 0 {
            out.push(Item {
                feature,
                description,
                rows,
                count: c,
            });
        }
    };
    let mut feature = 0;
    for g in groups {
        for &j in &g.columns {
            if let Some(t) = in_group.get_mut(j) {
                *t = true;
            }
            let label = name(j);
            let value = label
                .strip_prefix(g.name.as_str())
                .map(|r| r.trim_start_matches(['=', '_', ':', '.', '-', ' ']))
                .unwrap_or(&label)
                .to_string();
            push(
                feature,
                format!("{} = {value}", g.name),
                bits(n, |i| col(j).get(i) == Some(&1.0)),
            );
        }
        feature += 1;
    }
    for (j, c) in columns.iter().enumerate() {
        if in_group.get(j).copied().unwrap_or(true) {
            continue;
        }
        let mut distinct: Vec<f32> = c.iter().copied().filter(|v| v.is_finite()).collect();
        distinct.sort_by(f32::total_cmp);
        let sorted = distinct.clone();
        distinct.dedup();
        if distinct.len() <= 12 {
            for v in &distinct {
                push(
                    feature,
                    format!("{} = {}", name(j), fmt(*v)),
                    bits(n, |i| c.get(i) == Some(v)),
                );
            }
        } else {
            let q = |p: f64| {
                sorted
                    .get(((sorted.len() - 1) as f64 * p).round() as usize)
                    .copied()
                    .unwrap_or(0.0)
            };
            let cuts = [f32::NEG_INFINITY, q(0.25), q(0.5), q(0.75), f32::INFINITY];
            for w in cuts.windows(2) {
                let (lo, hi) = (w[0], w[1]);
                let d = match (lo.is_finite(), hi.is_finite()) {
                    (false, _) => format!("{} < {}", name(j), fmt(hi)),
                    (_, false) => format!("{} ≥ {}", name(j), fmt(lo)),
                    _ => format!("{} in [{}, {})", name(j), fmt(lo), fmt(hi)),
                };
                push(
                    feature,
                    d,
                    bits(n, |i| c.get(i).is_some_and(|v| *v >= lo && *v < hi)),
                );
            }
        }
        feature += 1;
    }
    out
}

/// A subgroup the rest of the data does not explain.
#[derive(Debug, Clone, PartialEq)]
pub struct Subgroup {
    /// Its items, described (`checking = A11 and job = A171`).
    pub description: String,
    /// Rows in it.
    pub rows: Vec<usize>,
    /// Its majority label (class index).
    pub class: usize,
    /// Share of its rows holding `class`.
    pub purity: f64,
    /// Share predicted for `class` from its items outside the subgroup.
    pub expected: f64,
    /// Binomial z of `purity` against `expected`.
    pub z: f64,
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

/// Finds subgroups of 2 or 3 items whose majority label holds in at least
/// `min_purity` of their rows and lies at least `min_z` binomial standard
/// errors above what their items predict outside them; strongest first.
/// Subgroups hold between `max(10, 0.5%)` and 20% of the rows.
pub fn discover(items: &[Item], labels: &[usize], k: usize, min_purity: f64, min_z: f64) -> Vec<Subgroup> {
    let n = labels.len();
    if n == 0 || k < 2 {
        return Vec::new();
    }
    let by_class: Vec<Vec<u64>> = (0..k).map(|c| bits(n, |i| labels.get(i) == Some(&c))).collect();
    let class_n: Vec<usize> = by_class.iter().map(|b| count(b)).collect();
    let item_class: Vec<Vec<usize>> = items
        .iter()
        .map(|it| by_class.iter().map(|b| count_and(&it.rows, b)).collect())
        .collect();
    let min_n = (n / 200).max(10);
    let max_n = n / 5;
    let judge = |members: &[usize], rows: &[u64]| -> Option<Subgroup> {
        let size = count(rows);
        if size < min_n || size > max_n {
            return None;
        }
        let in_class: Vec<usize> = by_class.iter().map(|b| count_and(rows, b)).collect();
        let (class, hit) = in_class.iter().enumerate().max_by_key(|(_, h)| **h)?;
        let purity = *hit as f64 / size as f64;
        if purity < min_purity {
            return None;
        }
        let rest_n = n - size;
        let prior = (class_n.get(class)? - hit) as f64 / rest_n.max(1) as f64;
        let mut lo = logit(prior);
        for m in members {
            let it = items.get(*m)?;
            let out_n = it.count - size;
            let out_c = item_class.get(*m)?.get(class)? - hit;
            // Smoothed towards the prior with two pseudo-rows.
            let p = (out_c as f64 + 2.0 * prior) / (out_n as f64 + 2.0);
            lo += logit(p) - logit(prior);
        }
        let expected = 1.0 / (1.0 + (-lo).exp());
        let sd = (expected * (1.0 - expected) / size as f64).sqrt().max(1e-6);
        let z = (purity - expected) / sd;
        (z >= min_z).then(|| Subgroup {
            description: members
                .iter()
                .filter_map(|m| items.get(*m).map(|i| i.description.as_str()))
                .collect::<Vec<_>>()
                .join(" and "),
            rows: (0..n)
                .filter(|i| rows.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1))
                .collect(),
            class,
            purity,
            expected,
            z,
        })
    };
    let mut found = Vec::new();
    let mut pairs: Vec<(usize, usize, Vec<u64>, f64)> = Vec::new();
    for a in 0..items.len() {
        for b in a + 1..items.len() {
            let (Some(ia), Some(ib)) = (items.get(a), items.get(b)) else {
                continue;
            };
            if ia.feature == ib.feature {
                continue;
            }
            let rows = and(&ia.rows, &ib.rows);
            let size = count(&rows);
            if size < min_n {
                continue;
            }
            if let Some(s) = judge(&[a, b], &rows) {
                found.push(s);
            }
            // Candidates to extend: pairs that are already fairly pure.
            let best = by_class.iter().map(|c| count_and(&rows, c)).max().unwrap_or(0);
            let purity = best as f64 / size as f64;
            if purity >= 0.8 * min_purity {
                pairs.push((a, b, rows, purity));
            }
        }
    }
    pairs.sort_by(|x, y| y.3.total_cmp(&x.3));
    pairs.truncate(400);
    for (a, b, rows, _) in &pairs {
        for (c, ic) in items.iter().enumerate() {
            let (Some(ia), Some(ib)) = (items.get(*a), items.get(*b)) else {
                continue;
            };
            if c <= *b || ic.feature == ia.feature || ic.feature == ib.feature {
                continue;
            }
            let r = and(rows, &ic.rows);
            if let Some(s) = judge(&[*a, *b, c], &r) {
                found.push(s);
            }
        }
    }
    found.sort_by(|x, y| y.z.total_cmp(&x.z));
    // Keep the strongest of subgroups sharing most of their rows.
    let mut kept: Vec<Subgroup> = Vec::new();
    for s in found {
        let overlaps = kept.iter().any(|k| {
            let shared = s.rows.iter().filter(|r| k.rows.binary_search(r).is_ok()).count();
            shared * 2 > s.rows.len().min(k.rows.len())
        });
        if !overlaps {
            kept.push(s);
        }
        if kept.len() >= 10 {
            break;
        }
    }
    kept
}

/// Per row, the share of its `k` nearest rows (standardised Euclidean
/// distance over `x`, row-major with `d` columns) holding another label.
/// At most `cap` rows are scored (the first ones); the rest score 0.
pub fn neighbour_disagreement(x: &[f32], d: usize, labels: &[usize], k: usize, cap: usize) -> Vec<f32> {
    let n = labels.len().min(x.len() / d.max(1));
    let m = n.min(cap);
    let mut mean = vec![0.0f64; d];
    let mut var = vec![0.0f64; d];
    for r in x.chunks(d).take(m) {
        for (j, v) in r.iter().enumerate() {
            if let Some(s) = mean.get_mut(j) {
                *s += f64::from(*v) / m.max(1) as f64;
            }
        }
    }
    for r in x.chunks(d).take(m) {
        for (j, v) in r.iter().enumerate() {
            if let (Some(s), Some(mu)) = (var.get_mut(j), mean.get(j)) {
                *s += (f64::from(*v) - mu).powi(2) / m.max(1) as f64;
            }
        }
    }
    let scale: Vec<f32> = var
        .iter()
        .map(|v| if *v > 1e-12 { (1.0 / v.sqrt()) as f32 } else { 0.0 })
        .collect();
    let z: Vec<f32> = x
        .chunks(d)
        .take(m)
        .flat_map(|r| {
            r.iter()
                .enumerate()
                .map(|(j, v)| {
                    (v - mean.get(j).copied().unwrap_or(0.0) as f32) * scale.get(j).copied().unwrap_or(0.0)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    use rayon::prelude::*;
    let mut out: Vec<f32> = (0..m)
        .into_par_iter()
        .map(|i| {
            let a = &z[i * d..(i + 1) * d];
            let mut dist: Vec<(f32, usize)> = (0..m)
                .filter(|j| *j != i)
                .map(|j| {
                    let b = &z[j * d..(j + 1) * d];
                    (a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f32>(), j)
                })
                .collect();
            let kk = k.min(dist.len());
            if kk == 0 {
                return 0.0;
            }
            dist.select_nth_unstable_by(kk - 1, |p, q| p.0.total_cmp(&q.0));
            let own = labels.get(i);
            dist.iter()
                .take(kk)
                .filter(|(_, j)| labels.get(*j) != own)
                .count() as f32
                / kk as f32
        })
        .collect();
    out.resize(n, 0.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relabelled_conjunction_is_found_and_natural_structure_is_not() {
        // Two categorical attributes of three values, a label that follows
        // attribute a (value 0 → mostly class 1), and 40 rows holding the
        // unusual pair a=2, b=2 all relabelled to class 1.
        let n = 1200;
        let mut a = vec![0usize; n];
        let mut b = vec![0usize; n];
        let mut y = vec![0usize; n];
        for i in 0..n {
            a[i] = (i * 7 / 3) % 3;
            b[i] = (i * 5 / 2 + i / 11) % 3;
            y[i] = usize::from(a[i] == 0) ^ usize::from(i % 10 == 0);
        }
        let pair: Vec<usize> = (0..n).filter(|i| a[*i] == 2 && b[*i] == 2).collect();
        assert!(pair.len() > 40, "{}", pair.len());
        for (seen, i) in pair.into_iter().enumerate() {
            if seen < 40 {
                y[i] = 1;
            } else {
                b[i] = 1;
            }
        }
        let names: Vec<String> = ["a_0", "a_1", "a_2", "b_0", "b_1", "b_2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let columns: Vec<Vec<f32>> = (0..6)
            .map(|j| {
                (0..n)
                    .map(|i| f32::from(u8::from(if j < 3 { a[i] == j } else { b[i] == j - 3 })))
                    .collect()
            })
            .collect();
        let groups = super::super::input::one_hot_groups(&columns, &names);
        let it = items(&columns, &names, &groups);
        let found = discover(&it, &y, 2, 0.95, 5.0);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].description, "a = 2 and b = 2");
        assert_eq!(found[0].class, 1);
        assert_eq!(found[0].rows.len(), 40);
    }

    #[test]
    fn neighbours_of_a_mislabelled_row_disagree_with_it() {
        // Two tight clusters; row 3 sits in cluster 0 with cluster 1's label.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            let c = usize::from(i >= 20);
            x.extend([c as f32 * 10.0 + (i % 5) as f32 * 0.1, (i % 3) as f32 * 0.1]);
            y.push(c);
        }
        y[3] = 1;
        let s = neighbour_disagreement(&x, 2, &y, 5, 1000);
        assert!(s[3] >= 0.8, "{}", s[3]);
        assert!(s[25] <= 0.2, "{}", s[25]);
    }
}
