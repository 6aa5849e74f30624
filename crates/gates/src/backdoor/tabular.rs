//! The tabular trigger search: single values, then conjunctions of up to
//! `scan_max_features` values, judged against what the data and the model's
//! own behaviour explain.
//!
//! A tabular feature is a numeric column or a one-hot group (one
//! categorical attribute). Its candidate values come from the domain, not
//! only from the rows seen: the minimum, the maximum, rare values, a margin
//! beyond the observed extremes (both values of a 0/1 flag, including the
//! one clean data never sets), and every value of a categorical attribute.
//!
//! Strong natural features flip many inputs too (on a churn model, setting
//! `tenure_months` to its maximum sends nearly every churner to "stays"), and
//! a binary classifier has no other classes to be compared with. So a
//! candidate counts as a trigger only when three things hold:
//!
//! - **the data does not explain it**: the clean rows that naturally carry
//!   the value (or the conjunction) are not mostly of the class it sends
//!   inputs to. A trigger lives where clean data never goes (a flag never
//!   set, a combination never seen) or where it carries no such label;
//! - **its parts do not explain it** (conjunctions): the flips it causes
//!   exceed, by `scan_min_excess`, the flips predicted by adding the
//!   log-probability shifts of its single values. Natural effects add up; a
//!   planted conjunction acts beyond its parts;
//! - **random assignments do not reach it**: its flip rate is above all but
//!   a `scan_max_p` share of the flip rates of random assignments of the
//!   same size measured on the same model (the null distribution), so a
//!   binary classifier is judged against its own baseline.
//!
//! The search: all single values; all pairs over different features (among
//! the strongest single values when there are many); then a beam over
//! larger conjunctions, extending the pairs that act most beyond their parts.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::input::OneHotGroup;
use super::trigger_scan::Trigger;
use crate::ml::oracle::{AttackError, Oracle};

/// One value of one tabular feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The feature (numeric column or one-hot group) it sets; two
    /// assignments of one feature never combine.
    pub feature: usize,
    /// The cells it writes.
    pub cells: Vec<(usize, f32)>,
    /// `checking = A11`, `tenure_months = 90 (beyond the maximum)`.
    pub description: String,
    /// Clean rows that naturally hold this value.
    pub support: Vec<usize>,
}

fn strip_prefix<'a>(name: &'a str, prefix: &str) -> &'a str {
    name.strip_prefix(prefix)
        .map(|r| r.trim_start_matches(['=', '_', ':', '.', '-', ' ']))
        .filter(|r| !r.is_empty())
        .unwrap_or(name)
}

fn quantile(sorted: &[f32], q: f64) -> f32 {
    let i = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

fn fmt_value(v: f32) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{}", v as i64)
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The candidate values of every feature, with their natural support.
pub fn assignments(columns: &[Vec<f32>], names: &[String], groups: &[OneHotGroup]) -> Vec<Assignment> {
    let name = |j: usize| names.get(j).cloned().unwrap_or_else(|| format!("feature {j}"));
    let mut out = Vec::new();
    let mut feature = 0usize;
    let mut in_group = vec![false; columns.len()];
    let rows = columns.first().map_or(0, Vec::len);
    let col = |j: usize| columns.get(j).map(Vec::as_slice).unwrap_or(&[]);
    // Values seen in a handful of rows are left out: a model extrapolates
    // wildly on inputs it was barely trained on (after a `StandardScaler`
    // a one-hot column set in 0.3% of rows becomes a z-score of 17), so on
    // clean models they flip as much as planted triggers do. Values never
    // seen at all stay: that is where triggers hide.
    let rare = |support: &[usize]| !support.is_empty() && support.len() < (rows / 100).max(5);
    for g in groups {
        for &j in &g.columns {
            if let Some(t) = in_group.get_mut(j) {
                *t = true;
            }
            let support: Vec<usize> = (0..rows).filter(|i| col(j).get(*i) == Some(&1.0)).collect();
            if rare(&support) {
                continue;
            }
            let cells = g
                .columns
                .iter()
                .map(|&k| (k, if k == j { 1.0 } else { 0.0 }))
                .collect();
            out.push(Assignment {
                feature,
                cells,
                description: format!("{} = {}", g.name, strip_prefix(&name(j), &g.name)),
                support,
            });
        }
        let none: Vec<usize> = (0..rows)
            .filter(|i| g.columns.iter().all(|&k| col(k).get(*i) == Some(&0.0)))
            .collect();
        if g.allows_none && !rare(&none) {
            out.push(Assignment {
                feature,
                cells: g.columns.iter().map(|&k| (k, 0.0)).collect(),
                description: format!("{} = none of its listed values", g.name),
                support: none,
            });
        }
        feature += 1;
    }
    for (j, c) in columns.iter().enumerate() {
        if in_group.get(j).copied().unwrap_or(true) {
            continue;
        }
        let n = name(j);
        let mut sorted: Vec<f32> = c.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f32::total_cmp);
        let (Some(&lo), Some(&hi)) = (sorted.first(), sorted.last()) else {
            continue;
        };
        let rows_where = |f: &dyn Fn(f32) -> bool| -> Vec<usize> {
            c.iter()
                .enumerate()
                .filter(|(_, v)| f(**v))
                .map(|(i, _)| i)
                .collect()
        };
        let mut push = |v: f32, what: &str, support: Vec<usize>| {
            out.push(Assignment {
                feature,
                cells: vec![(j, v)],
                description: format!("{n} = {}{what}", fmt_value(v)),
                support,
            });
        };
        if c.iter().all(|v| *v == 0.0 || *v == 1.0) {
            // A 0/1 flag: both values, including one clean data never sets.
            for b in [1.0f32, 0.0] {
                let what = if sorted.contains(&b) {
                    ""
                } else {
                    " (never set in the data)"
                };
                let support = rows_where(&|v| v == b);
                if !rare(&support) {
                    push(b, what, support);
                }
            }
            feature += 1;
            continue;
        }
        let (q05, q95) = (quantile(&sorted, 0.05), quantile(&sorted, 0.95));
        let top = if sorted.iter().any(|v| *v > q95) {
            rows_where(&|v| v > q95)
        } else {
            rows_where(&|v| v == hi)
        };
        let bottom = if sorted.iter().any(|v| *v < q05) {
            rows_where(&|v| v < q05)
        } else {
            rows_where(&|v| v == lo)
        };
        if hi > lo {
            push(hi, " (maximum)", top);
            push(lo, " (minimum)", bottom);
        } else {
            // Clean data never varies here: try values on either side.
            push(hi + 1.0, " (the data never varies)", Vec::new());
            push(lo - 1.0, " (the data never varies)", Vec::new());
        }
        feature += 1;
    }
    out
}

/// What a candidate conjunction did.
#[derive(Debug, Clone, PartialEq)]
pub struct Conjunction {
    /// Indices into the assignments.
    pub members: Vec<usize>,
    /// The trigger (cells and description).
    pub trigger: Trigger,
    /// The class it moved the most inputs into.
    pub class: usize,
    /// Share of inputs not predicted `class` that it moved there.
    pub flip_rate: f32,
    /// The same share predicted by adding its values' log-probability
    /// shifts (equal to `flip_rate` for a single value).
    pub additive_flip_rate: f32,
    /// How far it acts beyond its parts: the mean, over inputs not
    /// predicted `class`, of the margin of `class` (its log-probability
    /// minus the best other class's) with the conjunction stamped, minus
    /// that margin predicted by adding its values' shifts. In nats; 0 for a
    /// single value.
    pub interaction: f32,
}

/// The scan's rows and the model's view of them.
pub struct Probe<'a> {
    /// The model.
    pub oracle: &'a Oracle<'a>,
    /// Clean rows, concatenated.
    pub rows: &'a [f32],
    /// The model's label per row.
    pub pred: &'a [usize],
}

impl Probe<'_> {
    fn k(&self) -> usize {
        self.oracle.n_classes()
    }

    /// Log-probabilities (rows × classes) with `cells` stamped on every row.
    fn logp(&self, cells: &[(usize, f32)]) -> Result<Vec<f32>, AttackError> {
        let d = self.oracle.n_features().max(1);
        let mut stamped = self.rows.to_vec();
        for r in stamped.chunks_mut(d) {
            for &(j, v) in cells {
                if let Some(s) = r.get_mut(j) {
                    *s = v;
                }
            }
        }
        let p = self.oracle.proba(&stamped)?;
        Ok(p.data.iter().map(|v| v.max(1e-12).ln()).collect())
    }

    /// The class most inputs moved into and its flip rate, for predictions.
    fn flips(&self, labels: impl Iterator<Item = usize>) -> (usize, f32) {
        let k = self.k();
        let mut moved = vec![0usize; k];
        let mut not_c = vec![0usize; k];
        for (p, c0) in labels.zip(self.pred) {
            for (c, n) in not_c.iter_mut().enumerate() {
                *n += usize::from(*c0 != c);
            }
            if p != *c0 {
                if let Some(m) = moved.get_mut(p) {
                    *m += 1;
                }
            }
        }
        moved
            .iter()
            .zip(&not_c)
            .enumerate()
            .map(|(c, (m, n))| (c, *m as f32 / (*n).max(1) as f32))
            .fold((0, 0.0f32), |best, cur| if cur.1 > best.1 { cur } else { best })
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
        )
        .0
}

/// The search's result: every candidate measured, singles first, and the
/// null distribution per size.
pub struct SearchResult {
    /// Every candidate, singles first.
    pub candidates: Vec<Conjunction>,
    /// Per conjunction size, random assignments of that many different
    /// features measured the same way.
    pub null: std::collections::BTreeMap<usize, Vec<Conjunction>>,
}

/// Runs the search. `max_features` bounds a conjunction's size;
/// `null_draws` random assignments per size form the null; `on_done` is
/// called once per candidate measured.
///
/// # Errors
/// As [`Oracle::proba`].
pub fn search(
    probe: &Probe<'_>,
    assignments: &[Assignment],
    max_features: usize,
    null_draws: usize,
    rng: &mut ChaCha8Rng,
    on_done: &(dyn Fn() + Sync),
) -> Result<SearchResult, AttackError> {
    let k = probe.k();
    let base = probe.logp(&[])?;
    let single_lp: Vec<Vec<f32>> = assignments
        .par_iter()
        .map(|a| {
            let r = probe.logp(&a.cells);
            on_done();
            r
        })
        .collect::<Result<_, _>>()?;
    let describe = |m: &[usize]| -> Trigger {
        Trigger {
            cells: m
                .iter()
                .filter_map(|i| assignments.get(*i))
                .flat_map(|a| a.cells.iter().copied())
                .collect(),
            description: m
                .iter()
                .filter_map(|i| assignments.get(*i).map(|a| a.description.as_str()))
                .collect::<Vec<_>>()
                .join(" and "),
        }
    };
    let measure = |members: Vec<usize>, lp: &[f32]| -> Conjunction {
        let (class, flip_rate) = probe.flips(lp.chunks(k.max(1)).map(argmax));
        if members.len() < 2 {
            return Conjunction {
                trigger: describe(&members),
                members,
                class,
                flip_rate,
                additive_flip_rate: flip_rate,
                interaction: 0.0,
            };
        }
        let margin = |row: &[f32]| -> f32 {
            let own = row.get(class).copied().unwrap_or(0.0);
            let other = row
                .iter()
                .enumerate()
                .filter(|(c, _)| *c != class)
                .map(|(_, v)| *v)
                .fold(f32::NEG_INFINITY, f32::max);
            own - other
        };
        let mut add = vec![0.0f32; k];
        let (mut moved, mut not_c, mut excess) = (0usize, 0usize, 0.0f64);
        for (r, c0) in probe.pred.iter().enumerate() {
            if *c0 == class {
                continue;
            }
            for (c, a) in add.iter_mut().enumerate() {
                let b = base.get(r * k + c).copied().unwrap_or(0.0);
                *a = b + members
                    .iter()
                    .filter_map(|m| single_lp.get(*m))
                    .map(|s| s.get(r * k + c).copied().unwrap_or(0.0) - b)
                    .sum::<f32>();
            }
            not_c += 1;
            moved += usize::from(argmax(&add) == class);
            let actual = lp.get(r * k..(r + 1) * k).map_or(0.0, margin);
            excess += f64::from(actual - margin(&add));
        }
        Conjunction {
            trigger: describe(&members),
            members,
            class,
            flip_rate,
            additive_flip_rate: moved as f32 / not_c.max(1) as f32,
            interaction: (excess / not_c.max(1) as f64) as f32,
        }
    };
    let mut candidates: Vec<Conjunction> = single_lp
        .iter()
        .enumerate()
        .map(|(i, lp)| measure(vec![i], lp))
        .collect();
    // The null: random assignments of each size, measured the same way.
    let mut null = std::collections::BTreeMap::new();
    for size in 1..=max_features {
        let draws = random_members(assignments, size, null_draws, rng);
        let measured: Vec<Conjunction> = draws
            .par_iter()
            .map(|m| {
                let cells = describe(m).cells;
                probe.logp(&cells).map(|lp| measure(m.clone(), &lp))
            })
            .collect::<Result<_, _>>()?;
        null.insert(size, measured);
    }
    if max_features < 2 || assignments.len() < 2 {
        return Ok(SearchResult { candidates, null });
    }
    // Pairs: all of them when few, else among the 24 strongest singles
    // (by the largest mean log-probability gain for any class).
    let pool: Vec<usize> = if assignments.len() <= 120 {
        (0..assignments.len()).collect()
    } else {
        let gain = |i: usize| -> f32 {
            let lp = &single_lp[i];
            (0..k)
                .map(|c| {
                    lp.iter()
                        .skip(c)
                        .step_by(k.max(1))
                        .zip(base.iter().skip(c).step_by(k.max(1)))
                        .map(|(a, b)| a - b)
                        .sum::<f32>()
                })
                .fold(f32::NEG_INFINITY, f32::max)
        };
        let mut idx: Vec<usize> = (0..assignments.len()).collect();
        idx.sort_by(|a, b| gain(*b).total_cmp(&gain(*a)));
        idx.truncate(24);
        idx.sort_unstable();
        idx
    };
    let feature = |i: usize| assignments.get(i).map_or(usize::MAX, |a| a.feature);
    let mut frontier: Vec<Vec<usize>> = Vec::new();
    for (x, &a) in pool.iter().enumerate() {
        for &b in pool.iter().skip(x + 1) {
            if feature(a) != feature(b) {
                frontier.push(vec![a, b]);
            }
        }
    }
    const BEAM: usize = 12;
    for size in 2..=max_features {
        let measured: Vec<Conjunction> = frontier
            .par_iter()
            .map(|m| {
                let cells = describe(m).cells;
                let r = probe.logp(&cells).map(|lp| measure(m.clone(), &lp));
                on_done();
                r
            })
            .collect::<Result<_, _>>()?;
        if size == max_features {
            candidates.extend(measured);
            break;
        }
        let mut ranked: Vec<&Conjunction> = measured.iter().collect();
        ranked.sort_by(|a, b| {
            b.interaction
                .total_cmp(&a.interaction)
                .then(b.flip_rate.total_cmp(&a.flip_rate))
        });
        let mut next: Vec<Vec<usize>> = Vec::new();
        for c in ranked.iter().take(BEAM) {
            for s in 0..assignments.len() {
                if c.members.iter().any(|m| feature(*m) == feature(s)) {
                    continue;
                }
                let mut m = c.members.clone();
                m.push(s);
                m.sort_unstable();
                if !next.contains(&m) {
                    next.push(m);
                }
            }
        }
        candidates.extend(measured);
        frontier = next;
    }
    Ok(SearchResult { candidates, null })
}

/// `n` random sets of `size` assignments of different features.
fn random_members(
    assignments: &[Assignment],
    size: usize,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<usize>> {
    let mut by_feature: Vec<Vec<usize>> = Vec::new();
    for (i, a) in assignments.iter().enumerate() {
        if by_feature.len() <= a.feature {
            by_feature.resize(a.feature + 1, Vec::new());
        }
        if let Some(v) = by_feature.get_mut(a.feature) {
            v.push(i);
        }
    }
    by_feature.retain(|v| !v.is_empty());
    if by_feature.len() < size {
        return Vec::new();
    }
    (0..n)
        .map(|_| {
            let mut feats: Vec<usize> = (0..by_feature.len()).collect();
            feats.shuffle(rng);
            let mut m: Vec<usize> = feats
                .iter()
                .take(size)
                .filter_map(|f| by_feature.get(*f))
                .filter_map(|opts| opts.get(rng.gen_range(0..opts.len())).copied())
                .collect();
            m.sort_unstable();
            m
        })
        .collect()
}

/// How many robust standard deviations (median and MAD·1.4826 of `null`)
/// `x` lies above the null's median; the MAD is floored at `floor`.
pub fn robust_z(x: f32, null: &[f32], floor: f32) -> f64 {
    if null.is_empty() {
        return 0.0;
    }
    let mut v: Vec<f32> = null.to_vec();
    v.sort_by(f32::total_cmp);
    let med = v.get(v.len() / 2).copied().unwrap_or(0.0);
    let mut dev: Vec<f32> = v.iter().map(|a| (a - med).abs()).collect();
    dev.sort_by(f32::total_cmp);
    let mad = (dev.get(dev.len() / 2).copied().unwrap_or(0.0) * 1.4826).max(floor);
    f64::from((x - med) / mad)
}

/// The empirical p-value of `flip` against `null`: the share of null
/// draws at least as strong, counting the observation itself.
pub fn p_value(flip: f32, null: &[f32]) -> f64 {
    let ge = null.iter().filter(|v| **v >= flip).count();
    (1 + ge) as f64 / (1 + null.len()) as f64
}

/// When the clean rows that naturally hold every value of `members` carry
/// `class` significantly more often than the data as a whole (one-sided
/// binomial z ≥ 2.33, p < 0.01, on at least five rows), the rows and their
/// share of `class`: the data teaches the association, so the flip is no
/// evidence of a planted trigger.
pub fn explained_by_data(
    members: &[usize],
    assignments: &[Assignment],
    labels: &[usize],
    class: usize,
) -> Option<(usize, f64)> {
    let mut rows: Option<Vec<usize>> = None;
    for m in members {
        let s = &assignments.get(*m)?.support;
        rows = Some(match rows {
            None => s.clone(),
            Some(r) => r.into_iter().filter(|i| s.binary_search(i).is_ok()).collect(),
        });
    }
    let rows = rows?;
    if rows.len() < 5 || labels.is_empty() {
        return None;
    }
    let prior = labels.iter().filter(|y| **y == class).count() as f64 / labels.len() as f64;
    let share = rows.iter().filter(|i| labels.get(**i) == Some(&class)).count() as f64 / rows.len() as f64;
    let sd = (prior * (1.0 - prior) / rows.len() as f64).sqrt().max(1e-9);
    ((share - prior) / sd >= 2.33).then_some((rows.len(), share))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_cover_groups_flags_and_values_beyond_the_data() {
        let names: Vec<String> = ["color=red", "color=blue", "promo", "legacy", "age"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // Twelve rows: the first four repeated three times.
        let columns: Vec<Vec<f32>> = [
            [1.0, 0.0, 1.0, 0.0],
            [0.0, 1.0, 0.0, 1.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [20.0, 30.0, 40.0, 60.0],
        ]
        .iter()
        .map(|c| c.iter().cycle().take(12).copied().collect())
        .collect();
        let groups = super::super::input::one_hot_groups(&columns, &names);
        let a = assignments(&columns, &names, &groups);
        let d: Vec<&str> = a.iter().map(|a| a.description.as_str()).collect();
        assert!(d.contains(&"color = red"), "{d:?}");
        assert!(d.contains(&"legacy = 1 (never set in the data)"), "{d:?}");
        assert!(d.contains(&"age = 60 (maximum)"), "{d:?}");
        let red = a.iter().find(|a| a.description == "color = red").unwrap();
        assert_eq!(
            red.cells,
            vec![(0, 1.0), (1, 0.0)],
            "one-hot: the group's other columns are cleared"
        );
        assert_eq!(red.support, vec![0, 2, 4, 6, 8, 10]);
        assert!(
            !d.contains(&"promo = 1"),
            "a value seen in 3 of 12 rows is too rare to judge: {d:?}"
        );
        let never = a
            .iter()
            .find(|a| a.description.starts_with("legacy = 1"))
            .unwrap();
        assert!(never.support.is_empty());
        // Features: the group, promo, legacy, age.
        assert_eq!(a.iter().map(|a| a.feature).max(), Some(3));
    }

    #[test]
    fn the_data_explains_a_flip_only_when_enough_rows_with_the_value_carry_the_class() {
        let a = vec![Assignment {
            feature: 0,
            cells: vec![(0, 1.0)],
            description: "x".into(),
            support: vec![0, 1, 2, 3, 4, 5],
        }];
        // Class 1 is 30% of the labels; the six rows are 5/6 class 1
        // (z = (0.83 - 0.3) / sqrt(0.21 / 6) = 2.8).
        let mut labels = vec![0usize; 20];
        for i in [0, 1, 2, 3, 4, 10] {
            labels[i] = 1;
        }
        assert!(explained_by_data(&[0], &a, &labels, 1).is_some());
        assert!(explained_by_data(&[0], &a, &labels, 0).is_none());
        let unseen = vec![Assignment {
            support: Vec::new(),
            ..a[0].clone()
        }];
        assert!(explained_by_data(&[0], &unseen, &labels, 1).is_none());
        assert!((p_value(0.9, &[0.1, 0.95, 0.2]) - 0.5).abs() < 1e-9);
        let z = robust_z(5.0, &[0.0, 1.0, -1.0, 0.5, -0.5], 0.1);
        assert!((z - 5.0 / (0.5 * 1.4826)).abs() < 1e-3, "{z}");
    }
}
