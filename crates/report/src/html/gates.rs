//! The plot for each gate kind, drawn from the gate's own details and
//! metrics (the same numbers the evidence signs), never recomputed.
//!
//! A plot that cannot be drawn (an older result without the details, an
//! error) is left out; the tables below it still show every number.

use maud::{html, Markup};
use portcullis_evidence::predicate::Check;
use serde_json::Value;

use super::plot::{self, Band, BarGroup, Bars, Heatmap, Lines, Series};
use crate::view::GateView;

/// The plot (or plots) for a gate, if its kind has one and its details
/// hold what it needs.
pub(super) fn plot(g: &GateView) -> Option<Markup> {
    let parts = match g.kind.as_str() {
        "fairness" => fairness(g),
        "performance" => performance(g),
        "reference" => reference(g),
        "robustness" => robustness(g),
        "backdoor" => backdoor(g),
        "llm-safety" => llm_rates(g, "refusal_rate", "refusal rate"),
        "llm-redteam" | "llm-backdoor" => llm_rates(g, "attack_success_rate", "attack success rate"),
        _ => Vec::new(),
    };
    if parts.is_empty() {
        return None;
    }
    Some(html! {
        div class="plots" {
            @for (caption, m) in &parts {
                figure { (m) figcaption { (caption) } }
            }
        }
    })
}

type Part = (String, Markup);

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// The threshold of a check on `metric`, and whether it held.
fn check<'a>(checks: &'a [Check], metric: &str) -> Option<&'a Check> {
    checks.iter().find(|c| c.metric == metric)
}

fn fairness(g: &GateView) -> Vec<Part> {
    let Some(attrs) = g.details.get("attributes").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (attr, a) in attrs {
        let Some(groups) = a.get("groups").and_then(Value::as_object) else {
            continue;
        };
        let srs: Vec<(String, f64)> = groups
            .iter()
            .filter(|(_, v)| v.get("judged").and_then(Value::as_bool).unwrap_or(false))
            .filter_map(|(k, v)| num(v, "selection_rate").map(|s| (k.clone(), s)))
            .collect();
        let lo = srs.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
        let hi = srs.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max);
        let dp = num(a, "demographic_parity_difference");
        let dp_check = check(&g.checks, &format!("demographic_parity_difference[{attr}]"));
        let bars = Bars {
            title: format!("selection rate, true and false positive rate per group of {attr}"),
            series: vec!["selection rate".into(), "true positive rate".into(), "false positive rate".into()],
            groups: groups
                .iter()
                .map(|(name, v)| {
                    let sr = num(v, "selection_rate");
                    let judged = v.get("judged").and_then(Value::as_bool).unwrap_or(false);
                    BarGroup {
                        // `sex=Female` under `sex` reads as `Female`;
                        // intersectional names stay whole.
                        label: name.strip_prefix(&format!("{attr}=")).unwrap_or(name).to_string(),
                        values: vec![sr, num(v, "true_positive_rate"), num(v, "false_positive_rate")],
                        intervals: Vec::new(),
                        // The groups that set the worst-case selection-rate gap.
                        flagged: judged && srs.len() > 1 && sr.is_some_and(|s| s == lo || s == hi),
                        note: format!(
                            "n={}{}",
                            num(v, "count").map_or_else(String::new, crate::fmt_metric),
                            if judged { "" } else { ", not judged" }
                        ),
                    }
                })
                .collect(),
            max: Some(1.0),
            band: (lo.is_finite() && hi.is_finite()).then(|| {
                let allowed = dp_check.filter(|c| c.threshold.op.as_str() == "<=" || c.threshold.op.as_str() == "<");
                match allowed {
                    Some(c) => Band {
                        lo,
                        hi: (lo + c.threshold.value).min(1.0),
                        caption: format!(
                            "band: selection rates within {} of the lowest group; worst-case difference {} ({})",
                            crate::fmt_metric(c.threshold.value),
                            dp.map_or_else(|| "undefined".into(), crate::fmt_metric),
                            if c.passed { "within bounds" } else { "out of bounds" }
                        ),
                    },
                    None => Band {
                        lo,
                        hi,
                        caption: format!(
                            "band: lowest to highest selection rate; worst-case difference {}",
                            dp.map_or_else(|| "undefined".into(), crate::fmt_metric)
                        ),
                    },
                }
            }),
            line: None,
        };
        out.push((
            format!(
                "Fairness across {attr}: highlighted groups set the worst-case selection-rate difference."
            ),
            plot::bars(&bars),
        ));
    }
    out
}

fn performance(g: &GateView) -> Vec<Part> {
    let mut out = Vec::new();
    if let Some(slices) = g.details.get("slices").and_then(Value::as_object) {
        for (col, per) in slices {
            let Some(per) = per.as_object() else { continue };
            // Plot the metric the policy checks per slice, accuracy otherwise.
            let prefix = format!("[{col}=");
            let checked = g.checks.iter().find(|c| c.metric.contains(&prefix));
            let metric = checked
                .and_then(|c| c.metric.split('[').next())
                .unwrap_or("accuracy")
                .to_string();
            let groups: Vec<BarGroup> = per
                .iter()
                .map(|(value, s)| {
                    let v = s.get("metrics").and_then(|m| num(m, &metric));
                    let n = num(s, "count").unwrap_or(0.0);
                    let failed =
                        check(&g.checks, &format!("{metric}[{col}={value}]")).is_some_and(|c| !c.passed);
                    BarGroup {
                        label: value.clone(),
                        values: vec![v],
                        // A proportion's interval; AUC and the like get none.
                        intervals: vec![if metric == "accuracy" {
                            v.and_then(|v| plot::wilson(v, n))
                        } else {
                            None
                        }],
                        flagged: failed,
                        note: format!("n={}", crate::fmt_metric(n)),
                    }
                })
                .collect();
            let line = checked.map(|c| {
                (
                    c.threshold.value,
                    format!("dashed line: required {} {}", metric, c.threshold),
                )
            });
            out.push((
                format!(
                    "{metric} per {col} slice{}",
                    if metric == "accuracy" {
                        ", whiskers: 95% Wilson interval"
                    } else {
                        ""
                    }
                ),
                plot::bars(&Bars {
                    title: format!("{metric} per slice of {col}"),
                    series: vec![metric.clone()],
                    groups,
                    max: Some(1.0),
                    band: None,
                    line,
                }),
            ));
        }
    }
    if let Some(m) = confusion(&g.details, "confusion_matrix", "true label", "predicted label") {
        out.push(("Confusion matrix on the evaluation data.".into(), m));
    }
    out
}

fn confusion(details: &Value, key: &str, rows: &str, cols: &str) -> Option<Markup> {
    let classes: Vec<String> = details
        .get("classes")?
        .as_array()?
        .iter()
        .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
        .collect();
    let cells: Vec<Vec<f64>> = details
        .get(key)?
        .as_array()?
        .iter()
        .map(|r| {
            r.as_array()
                .map(|r| r.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default()
        })
        .collect();
    if cells.is_empty() || classes.len() > 20 {
        return None;
    }
    Some(plot::heatmap(&Heatmap {
        title: format!("{rows} by {cols}"),
        row_axis: rows.into(),
        col_axis: cols.into(),
        rows: classes.clone(),
        cols: classes,
        cells,
        highlight: None,
        skip_diagonal: false,
    }))
}

fn reference(g: &GateView) -> Vec<Part> {
    let d = &g.details;
    let Some(classes) = d.get("classes").and_then(Value::as_array) else {
        return Vec::new();
    };
    let classes: Vec<String> = classes
        .iter()
        .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string))
        .collect();
    if classes.len() > 20 {
        return Vec::new();
    }
    let Some(flips) = d.get("flip_matrix").and_then(Value::as_object) else {
        return Vec::new();
    };
    let cells: Vec<Vec<f64>> = classes
        .iter()
        .map(|r| {
            classes
                .iter()
                .map(|c| flips.get(r).and_then(|row| num(row, c)).unwrap_or(0.0))
                .collect()
        })
        .collect();
    let test = d.get("concentration_test");
    let target = test
        .and_then(|t| t.get("most_concentrated_class"))
        .and_then(Value::as_str);
    let p = test.and_then(|t| num(t, "p_value"));
    let highlight = target
        .and_then(|t| classes.iter().position(|c| c == t))
        .and_then(|col| {
            (0..classes.len())
                .filter(|&r| r != col)
                .max_by(|&a, &b| cells[a][col].total_cmp(&cells[b][col]))
                .map(|r| (r, col))
        });
    let caption = format!(
        "Disagreements between the production and the candidate model (diagonal: agreements, not shaded).{}",
        match (target, p) {
            (Some(t), Some(p)) => format!(
                " Outlined: the largest flow into the most concentrated class '{t}' (p = {})",
                fmt_p(p)
            ),
            _ => String::new(),
        }
    );
    vec![(
        caption,
        plot::heatmap(&Heatmap {
            title: "flip matrix: production label by candidate label".into(),
            row_axis: "production label".into(),
            col_axis: "candidate label".into(),
            rows: classes.clone(),
            cols: classes,
            cells,
            highlight,
            skip_diagonal: true,
        }),
    )]
}

fn fmt_p(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        crate::fmt_metric((p * 1000.0).round() / 1000.0)
    }
}

fn robustness(g: &GateView) -> Vec<Part> {
    let Some(clean) = g.metrics.get("clean_accuracy").copied() else {
        return Vec::new();
    };
    let eps = num(&g.details, "epsilon").unwrap_or(0.0);
    let units = g
        .details
        .get("epsilon_units")
        .and_then(Value::as_str)
        .unwrap_or("");
    let norm = g.details.get("norm").and_then(Value::as_str).unwrap_or("");
    let attacks = g
        .details
        .get("attacks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut series = Vec::new();
    let mut medians = Vec::new();
    for a in &attacks {
        let Some(name) = a.get("attack").and_then(Value::as_str) else {
            continue;
        };
        // Per-ε results when the gate ran several budgets, else the one.
        let mut points = Vec::new();
        if let Some(curve) = a.get("curve").and_then(Value::as_array) {
            for p in curve {
                if let (Some(e), Some(acc)) = (num(p, "epsilon"), num(p, "accuracy")) {
                    points.push((e, acc));
                }
            }
        } else if let Some(asr) = g.metrics.get(&format!("attack_success_rate[{name}]")) {
            points.push((0.0, clean));
            points.push((eps, clean * (1.0 - asr)));
        }
        series.push(Series {
            name: name.to_string(),
            points,
        });
        medians.push(BarGroup {
            label: name.to_string(),
            values: vec![num(a, "median_perturbation")],
            note: format!(
                "{}/{} flipped",
                num(a, "broken").map_or_else(String::new, crate::fmt_metric),
                num(a, "attacked").map_or_else(String::new, crate::fmt_metric)
            ),
            ..BarGroup::default()
        });
    }
    if series.is_empty() {
        return Vec::new();
    }
    let mut out = vec![(
        format!(
            "Accuracy under attack against the budget up to the gate's {norm} ε = {}{}, from the smallest adversarial example each attack found per row (an upper bound: a stronger attack can only lower it).",
            crate::fmt_metric(eps),
            if units == "std" { " std" } else { "" }
        ),
        plot::lines(&Lines {
            title: "accuracy against perturbation budget".into(),
            x_label: format!("perturbation budget ε ({norm}{})", if units == "std" { ", std units" } else { "" }),
            y_label: "accuracy".into(),
            series,
            threshold: None,
        }),
    )];
    if medians
        .iter()
        .any(|m| m.values.first().copied().flatten().is_some())
    {
        out.push((
            "Median perturbation of the successful attacks (smaller: easier to fool).".into(),
            plot::bars(&Bars {
                title: "median perturbation per attack".into(),
                series: vec!["median perturbation".into()],
                groups: medians,
                max: None,
                band: None,
                line: Some((
                    eps,
                    format!("dashed line: the budget ε = {}", crate::fmt_metric(eps)),
                )),
            }),
        ));
    }
    out
}

fn backdoor(g: &GateView) -> Vec<Part> {
    let d = &g.details;
    let mut out = Vec::new();
    // Trigger scan: the strongest stamped trigger of each size and the class
    // it sends inputs to; a backdoor flips most inputs with a tiny one.
    if let Some(best) = d.pointer("/trigger_scan/best_by_size").and_then(Value::as_array) {
        let threshold = num(&d["trigger_scan"], "threshold");
        let groups: Vec<BarGroup> = best
            .iter()
            .filter_map(|h| {
                let size = num(h, "size")?;
                let class = h
                    .get("class")
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))?;
                let rate = num(h, "flip_rate");
                Some(BarGroup {
                    label: format!(
                        "{} feature{} → {class}",
                        crate::fmt_metric(size),
                        if size == 1.0 { "" } else { "s" }
                    ),
                    values: vec![rate],
                    flagged: rate.zip(threshold).is_some_and(|(r, t)| r >= t),
                    note: String::new(),
                    ..BarGroup::default()
                })
            })
            .collect();
        if !groups.is_empty() {
            out.push((
                "Strongest stamped trigger of each size: the share of inputs it sends to one class.".into(),
                plot::bars(&Bars {
                    title: "trigger flip rate by trigger size".into(),
                    series: vec!["flip rate".into()],
                    groups,
                    max: Some(1.0),
                    band: None,
                    line: threshold.map(|t| {
                        (
                            t,
                            format!(
                                "dashed line: a trigger flipping ≥ {} is a candidate",
                                crate::fmt_metric(t)
                            ),
                        )
                    }),
                }),
            ));
        }
        let strongest = d.pointer("/trigger_scan/top/0");
        if let Some(img) = strongest.and_then(|t| trigger_image(d, t, "Strongest stamped trigger")) {
            out.push(img);
        }
    }
    // Neural Cleanse style: the trigger size per class; a backdoor target is
    // reached with a trigger far smaller than the others (MAD outlier).
    if let Some(rev) = d.get("reverse").filter(|v| v.is_object()) {
        let limit = num(rev, "anomaly_threshold");
        if let Some(per) = rev.get("classes").and_then(Value::as_array) {
            let groups: Vec<BarGroup> = per
                .iter()
                .filter_map(|c| {
                    let label = c
                        .get("class")
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))?;
                    let a = num(c, "anomaly_index");
                    Some(BarGroup {
                        label,
                        values: vec![num(c, "mask_norm")],
                        flagged: a.zip(limit).is_some_and(|(a, l)| a > l),
                        note: a.map_or_else(String::new, |a| format!("index {a:.1}")),
                        ..BarGroup::default()
                    })
                })
                .collect();
            if !groups.is_empty() {
                out.push((
                    format!(
                        "Smallest trigger found per target class (features changed); a class whose MAD anomaly index exceeds {} is marked.",
                        limit.map_or_else(|| "the limit".into(), crate::fmt_metric)
                    ),
                    plot::bars(&Bars {
                        title: "reverse-engineered trigger size per class".into(),
                        series: vec!["trigger size".into()],
                        groups,
                        ..Bars::default()
                    }),
                ));
            }
        }
        let worst = rev.get("classes").and_then(Value::as_array).and_then(|c| {
            c.iter().max_by(|a, b| {
                num(a, "anomaly_index")
                    .unwrap_or(0.0)
                    .total_cmp(&num(b, "anomaly_index").unwrap_or(0.0))
            })
        });
        if let Some(img) = worst.and_then(|w| trigger_image(d, w, "Reverse-engineered trigger")) {
            out.push(img);
        }
    }
    out
}

/// A trigger (`entry` with `class` and `cells`) drawn on the image grid,
/// when the gate treated the input as an image (`input.shape` `[c, h, w]`).
fn trigger_image(details: &Value, entry: &Value, what: &str) -> Option<Part> {
    let shape: Vec<usize> = details
        .pointer("/input/shape")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_u64().and_then(|v| usize::try_from(v).ok()))
        .collect();
    let (h, w) = match shape.as_slice() {
        [_, h, w] | [h, w] => (*h, *w),
        _ => return None,
    };
    if h == 0 || w == 0 || h > 256 || w > 256 {
        return None;
    }
    let raw: Vec<(usize, f64)> = entry
        .get("cells")?
        .as_array()?
        .iter()
        .filter_map(|c| {
            let i = c.get(0)?.as_u64().and_then(|v| usize::try_from(v).ok())?;
            Some((i, c.get(1)?.as_f64()?))
        })
        .collect();
    if raw.is_empty() {
        return None;
    }
    let max = raw.iter().map(|c| c.1.abs()).fold(0.0_f64, f64::max).max(1e-12);
    let cells: Vec<(usize, f64)> = raw.iter().map(|(i, v)| (*i, v / max)).collect();
    let class = entry
        .get("class")
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        .unwrap_or_default();
    let scale = (128.0 / w.max(h) as f64).clamp(2.0, 16.0);
    Some((
        format!(
            "{what} for class {class} on the {h}×{w} image grid (outlined: the {} pixel(s) it sets; grey: untouched).",
            cells.len()
        ),
        plot::trigger_grid(&format!("{what} for class {class}"), w, h, &cells, scale),
    ))
}

fn llm_rates(g: &GateView, metric: &str, what: &str) -> Vec<Part> {
    let prefix = format!("{metric}[");
    let groups: Vec<BarGroup> = g
        .metrics
        .iter()
        .filter_map(|(k, v)| {
            let cat = k.strip_prefix(&prefix)?.strip_suffix(']')?;
            let n = g.metrics.get(&format!("attempts[{cat}]")).copied().unwrap_or(0.0);
            let failed = check(&g.checks, k).is_some_and(|c| !c.passed);
            Some(BarGroup {
                label: cat.to_string(),
                values: vec![Some(*v)],
                intervals: vec![plot::wilson(*v, n)],
                flagged: failed,
                note: format!("n={}", crate::fmt_metric(n)),
            })
        })
        .collect();
    if groups.is_empty() {
        return Vec::new();
    }
    let line = g
        .checks
        .iter()
        .find(|c| c.metric == metric || c.metric.starts_with(&prefix))
        .map(|c| {
            (
                c.threshold.value,
                format!("dashed line: required {what} {}", c.threshold),
            )
        });
    let mut out = vec![(
        format!("{what} per category, whiskers: 95% Wilson interval."),
        plot::bars(&Bars {
            title: format!("{what} per category"),
            series: vec![what.into()],
            groups,
            max: Some(1.0),
            band: None,
            line,
        }),
    )];
    if let Some(t) = transcripts(g) {
        out.push(("Failing transcripts.".into(), t));
    }
    out
}

/// The findings of an LLM gate as collapsible transcripts.
fn transcripts(g: &GateView) -> Option<Markup> {
    if g.findings.is_empty() {
        return None;
    }
    Some(html! {
        div class="transcripts" {
            @for f in g.findings.iter().take(50) {
                details class="transcript" data-rule=(f.rule) {
                    summary { code { (f.rule) } " " (f.message.chars().take(120).collect::<String>()) }
                    p class="wrap" { (f.message) }
                    @if let Some(frag) = &f.fragment { pre { (frag) } }
                    @if let Some(l) = &f.location { p class="muted" { (l.to_string()) } }
                }
            }
            @if g.findings.len() > 50 { p class="muted" { "… and " (g.findings.len() - 50) " more in the findings table." } }
        }
    })
}
