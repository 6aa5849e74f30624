//! Small SVG plots drawn in Rust: grouped horizontal bars with intervals
//! and a threshold band, a heatmap, a line chart and a pixel image.
//!
//! Each plot is a `maud` fragment, so every label taken from a model, a
//! dataset or a reply is escaped like the rest of the page. The plots
//! carry `role="img"`, a `<title>` and `data-*` attributes naming what each
//! mark shows, so a screen reader and a browser test can both read them.

use maud::{html, Markup};

/// Bar fill colours for up to four series (colour-blind safe, from the
/// Okabe–Ito palette), then repeating.
const SERIES: [&str; 4] = ["#0072b2", "#e69f00", "#009e73", "#cc79a7"];
/// The colour of a flagged mark.
const FLAG: &str = "#d55e00";

fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// One group of bars (a fairness group, a slice, a class).
#[derive(Debug, Clone, Default)]
pub struct BarGroup {
    /// The group's label.
    pub label: String,
    /// One value per series (`None`: undefined, drawn as a gap).
    pub values: Vec<Option<f64>>,
    /// An interval per series, drawn as a whisker.
    pub intervals: Vec<Option<(f64, f64)>>,
    /// Drawn in the flag colour (the outlier, the worst group).
    pub flagged: bool,
    /// Text after the label (a count).
    pub note: String,
}

/// A band on the value axis (the allowed region) with its caption.
#[derive(Debug, Clone)]
pub struct Band {
    /// Low end.
    pub lo: f64,
    /// High end.
    pub hi: f64,
    /// What it means.
    pub caption: String,
}

/// Grouped horizontal bars.
#[derive(Debug, Clone, Default)]
pub struct Bars {
    /// The accessible title.
    pub title: String,
    /// Series names (one bar per series in each group).
    pub series: Vec<String>,
    /// The groups, top to bottom.
    pub groups: Vec<BarGroup>,
    /// The axis maximum (the minimum is 0); `None`: the largest value.
    pub max: Option<f64>,
    /// A shaded band.
    pub band: Option<Band>,
    /// A vertical reference line and its caption.
    pub line: Option<(f64, String)>,
}

/// Draws grouped horizontal bars.
pub fn bars(b: &Bars) -> Markup {
    let label_w = 210.0;
    let plot_w = 380.0;
    let right = 60.0;
    let bar_h = 12.0;
    let gap = 10.0;
    let n_series = b.series.len().max(1);
    let group_h = n_series as f64 * bar_h + gap;
    let legend_h = if b.series.len() > 1 { 22.0 } else { 0.0 };
    let top = 8.0 + legend_h;
    let height = top + b.groups.len() as f64 * group_h + 22.0;
    let width = label_w + plot_w + right;
    let data_max = b
        .groups
        .iter()
        .flat_map(|g| {
            g.values
                .iter()
                .flatten()
                .chain(g.intervals.iter().flatten().map(|(_, hi)| hi))
        })
        .fold(0.0_f64, |a, &v| a.max(v));
    let max = b.max.unwrap_or(data_max).max(data_max).max(1e-9);
    let x = |v: f64| label_w + (v.clamp(0.0, max) / max) * plot_w;
    let axis_y = top + b.groups.len() as f64 * group_h;
    html! {
        svg class="plot" role="img" viewBox={"0 0 " (f1(width)) " " (f1(height))} width=(f1(width)) height=(f1(height))
            xmlns="http://www.w3.org/2000/svg" {
            title { (b.title) }
            @if b.series.len() > 1 {
                @for (i, s) in b.series.iter().enumerate() {
                    rect x=(f1(label_w + i as f64 * 130.0)) y="6" width="10" height="10" fill=(SERIES[i % 4]) {}
                    text x=(f1(label_w + 14.0 + i as f64 * 130.0)) y="15" class="legend" { (s) }
                }
            }
            @if let Some(band) = &b.band {
                rect class="band" x=(f1(x(band.lo))) y=(f1(top - 4.0)) width=(f1((x(band.hi) - x(band.lo)).max(1.0)))
                    height=(f1(axis_y - top + 4.0)) fill="#009e73" fill-opacity="0.12" {
                    title { (band.caption) }
                }
            }
            @for (gi, g) in b.groups.iter().enumerate() {
                @let gy = top + gi as f64 * group_h;
                g class="bar-group" data-label=(g.label) data-flagged=(g.flagged) {
                    text x=(f1(label_w - 6.0)) y=(f1(gy + n_series as f64 * bar_h / 2.0 + 4.0)) text-anchor="end"
                        class=(if g.flagged { "label flagged" } else { "label" }) {
                        (truncate(&g.label, 26))
                        @if !g.note.is_empty() { tspan class="muted" { " " (g.note) } }
                    }
                    @for (si, v) in g.values.iter().enumerate() {
                        @let by = gy + si as f64 * bar_h;
                        @let series = b.series.get(si).map_or("", String::as_str);
                        @if let Some(v) = v {
                            rect class="bar" x=(f1(label_w)) y=(f1(by + 1.0)) width=(f1((x(*v) - label_w).max(0.5)))
                                height=(f1(bar_h - 2.0))
                                fill=(if g.flagged && n_series == 1 { FLAG } else { SERIES[si % 4] })
                                data-series=(series) data-value=(format!("{v:.6}")) {
                                title { (g.label) " · " (series) ": " (crate::fmt_metric(*v)) }
                            }
                            @if let Some(Some((lo, hi))) = g.intervals.get(si) {
                                line class="whisker" x1=(f1(x(*lo))) x2=(f1(x(*hi))) y1=(f1(by + bar_h / 2.0))
                                    y2=(f1(by + bar_h / 2.0)) stroke="#222" stroke-width="1.2" {}
                                line x1=(f1(x(*lo))) x2=(f1(x(*lo))) y1=(f1(by + 2.0)) y2=(f1(by + bar_h - 2.0))
                                    stroke="#222" stroke-width="1.2" {}
                                line x1=(f1(x(*hi))) x2=(f1(x(*hi))) y1=(f1(by + 2.0)) y2=(f1(by + bar_h - 2.0))
                                    stroke="#222" stroke-width="1.2" {}
                            }
                            text x=(f1(x(v.max(g.intervals.get(si).copied().flatten().map_or(0.0, |i| i.1))) + 4.0))
                                y=(f1(by + bar_h - 2.5)) class="value" { (fmt_short(*v)) }
                        } @else {
                            text x=(f1(label_w + 4.0)) y=(f1(by + bar_h - 2.5)) class="muted" { "undefined" }
                        }
                    }
                }
            }
            @if let Some((v, caption)) = &b.line {
                line class="ref-line" x1=(f1(x(*v))) x2=(f1(x(*v))) y1=(f1(top - 4.0)) y2=(f1(axis_y))
                    stroke=(FLAG) stroke-width="1.5" stroke-dasharray="4 3" {
                    title { (caption) }
                }
            }
            line x1=(f1(label_w)) x2=(f1(label_w + plot_w)) y1=(f1(axis_y)) y2=(f1(axis_y)) stroke="#888" {}
            @for i in 0..=4 {
                @let v = max * f64::from(i) / 4.0;
                line x1=(f1(x(v))) x2=(f1(x(v))) y1=(f1(axis_y)) y2=(f1(axis_y + 4.0)) stroke="#888" {}
                text x=(f1(x(v))) y=(f1(axis_y + 16.0)) text-anchor="middle" class="tick" { (fmt_short(v)) }
            }
        }
        // Captions go below the picture as text, where they wrap.
        @if let Some(band) = &b.band {
            p class="caption-text band-caption" { (band.caption) }
        }
        @if let Some((_, caption)) = &b.line {
            p class="caption-text line-caption" { (caption) }
        }
    }
}

/// A matrix of counts drawn as shaded cells.
#[derive(Debug, Clone, Default)]
pub struct Heatmap {
    /// The accessible title.
    pub title: String,
    /// What the rows are (the y axis).
    pub row_axis: String,
    /// What the columns are (the x axis).
    pub col_axis: String,
    /// Row labels.
    pub rows: Vec<String>,
    /// Column labels.
    pub cols: Vec<String>,
    /// Counts, `cells[row][col]`.
    pub cells: Vec<Vec<f64>>,
    /// The cell to outline, `(row, col)`.
    pub highlight: Option<(usize, usize)>,
    /// Leave the diagonal unshaded (agreements in a flip matrix).
    pub skip_diagonal: bool,
}

/// Draws a heatmap.
pub fn heatmap(h: &Heatmap) -> Markup {
    let n_cols = h.cols.len().max(1);
    let cell = (360.0 / n_cols as f64).clamp(22.0, 56.0);
    let left = 130.0;
    let top = 42.0;
    let width = left + cell * n_cols as f64 + 20.0;
    let height = top + cell * h.rows.len() as f64 + 16.0;
    let max = h
        .cells
        .iter()
        .enumerate()
        .flat_map(|(r, row)| {
            row.iter()
                .enumerate()
                .filter(move |(c, _)| !(h.skip_diagonal && *c == r))
                .map(|(_, v)| *v)
        })
        .fold(0.0_f64, f64::max)
        .max(1.0);
    html! {
        svg class="plot heatmap" role="img" viewBox={"0 0 " (f1(width)) " " (f1(height))} width=(f1(width)) height=(f1(height))
            xmlns="http://www.w3.org/2000/svg" {
            title { (h.title) }
            text x=(f1(left)) y="12" class="caption" { (h.col_axis) " →" }
            text x="4" y=(f1(top - 6.0)) class="caption" { (h.row_axis) " ↓" }
            @for (c, label) in h.cols.iter().enumerate() {
                text x=(f1(left + (c as f64 + 0.5) * cell)) y=(f1(top - 6.0)) text-anchor="middle" class="tick" {
                    (truncate(label, 8))
                }
            }
            @for (r, label) in h.rows.iter().enumerate() {
                text x=(f1(left - 6.0)) y=(f1(top + (r as f64 + 0.5) * cell + 4.0)) text-anchor="end" class="tick" {
                    (truncate(label, 16))
                }
                @for (c, v) in h.cells.get(r).map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
                    @let diag = h.skip_diagonal && r == c;
                    @let shade = if diag { 0.0 } else { (v / max).clamp(0.0, 1.0) };
                    @let hl = h.highlight == Some((r, c));
                    rect class="cell" x=(f1(left + c as f64 * cell)) y=(f1(top + r as f64 * cell)) width=(f1(cell - 1.0))
                        height=(f1(cell - 1.0))
                        fill=(if diag { "#eeeeee".to_string() } else { format!("rgba(213,94,0,{:.3})", 0.08 + 0.92 * shade) })
                        stroke=(if hl { "#000" } else { "none" }) stroke-width=(if hl { "3" } else { "0" })
                        data-row=(label) data-col=(h.cols.get(c).map_or("", String::as_str)) data-count=(crate::fmt_metric(*v))
                        data-highlight=(hl) {
                        title { (label) " → " (h.cols.get(c).map_or("", String::as_str)) ": " (crate::fmt_metric(*v)) }
                    }
                    text x=(f1(left + (c as f64 + 0.5) * cell)) y=(f1(top + (r as f64 + 0.5) * cell + 4.0))
                        text-anchor="middle" class=(if shade > 0.6 { "cell-text light" } else { "cell-text" }) {
                        (crate::fmt_metric(*v))
                    }
                }
            }
        }
    }
}

/// One line of a line chart.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// Points `(x, y)`, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart of y in [0, 1] against x.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    /// The accessible title.
    pub title: String,
    /// The x axis label.
    pub x_label: String,
    /// The y axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// A horizontal reference line (a threshold) and its caption.
    pub threshold: Option<(f64, String)>,
}

/// Draws a line chart.
pub fn lines(l: &Lines) -> Markup {
    let (left, top, w, h) = (52.0, 28.0, 420.0, 190.0);
    let width = left + w + 150.0;
    let height = top + h + 44.0;
    let x_max = l
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let px = |x: f64| left + (x / x_max).clamp(0.0, 1.0) * w;
    let py = |y: f64| top + (1.0 - y.clamp(0.0, 1.0)) * h;
    html! {
        svg class="plot lines" role="img" viewBox={"0 0 " (f1(width)) " " (f1(height))} width=(f1(width)) height=(f1(height))
            xmlns="http://www.w3.org/2000/svg" {
            title { (l.title) }
            text x="4" y="14" class="caption" { (l.y_label) }
            @for i in 0..=4 {
                @let y = f64::from(i) / 4.0;
                line x1=(f1(left)) x2=(f1(left + w)) y1=(f1(py(y))) y2=(f1(py(y))) stroke="#e5e5e5" {}
                text x=(f1(left - 6.0)) y=(f1(py(y) + 4.0)) text-anchor="end" class="tick" { (fmt_short(y)) }
            }
            @for i in 0..=4 {
                @let x = x_max * f64::from(i) / 4.0;
                text x=(f1(px(x))) y=(f1(top + h + 16.0)) text-anchor="middle" class="tick" { (fmt_short(x)) }
            }
            text x=(f1(left + w / 2.0)) y=(f1(top + h + 34.0)) text-anchor="middle" class="caption" { (l.x_label) }
            @if let Some((t, caption)) = &l.threshold {
                line x1=(f1(left)) x2=(f1(left + w)) y1=(f1(py(*t))) y2=(f1(py(*t))) stroke=(FLAG)
                    stroke-dasharray="4 3" {
                    title { (caption) }
                }
            }
            @for (si, s) in l.series.iter().enumerate() {
                @let pts: Vec<String> = s.points.iter().map(|(x, y)| format!("{},{}", f1(px(*x)), f1(py(*y)))).collect();
                g class="series" data-series=(s.name) {
                    polyline points=(pts.join(" ")) fill="none" stroke=(SERIES[si % 4]) stroke-width="2" {}
                    @for (x, y) in &s.points {
                        circle class="point" cx=(f1(px(*x))) cy=(f1(py(*y))) r="3.5" fill=(SERIES[si % 4])
                            data-x=(format!("{x}")) data-y=(format!("{y:.6}")) {
                            title { (s.name) ": " (crate::fmt_metric(*y)) " at " (crate::fmt_metric(*x)) }
                        }
                    }
                    rect x=(f1(left + w + 14.0)) y=(f1(top + si as f64 * 18.0)) width="10" height="10" fill=(SERIES[si % 4]) {}
                    text x=(f1(left + w + 28.0)) y=(f1(top + si as f64 * 18.0 + 9.0)) class="legend" { (truncate(&s.name, 18)) }
                }
            }
        }
    }
}

/// A trigger drawn on its image grid: `width`×`height` cells on a grey
/// ground, each trigger pixel `(index, intensity in [0, 1])` filled with its
/// intensity and outlined, so a dark pixel shows as well as a bright one.
pub fn trigger_grid(title: &str, width: usize, height: usize, cells: &[(usize, f64)], scale: f64) -> Markup {
    let (w, h) = (width as f64 * scale, height as f64 * scale);
    html! {
        svg class="plot pixels" role="img" viewBox={"0 0 " (f1(w + 2.0)) " " (f1(h + 2.0))} width=(f1(w + 2.0)) height=(f1(h + 2.0))
            xmlns="http://www.w3.org/2000/svg" shape-rendering="crispEdges" {
            title { (title) }
            rect x="1" y="1" width=(f1(w)) height=(f1(h)) fill="#9e9e9e" stroke="#444" {}
            @for (i, v) in cells {
                @let (r, c) = (i / width.max(1) % height.max(1), i % width.max(1));
                @let g = (v.clamp(0.0, 1.0) * 255.0).round();
                rect class="px" x=(f1(1.0 + c as f64 * scale)) y=(f1(1.0 + r as f64 * scale)) width=(f1(scale)) height=(f1(scale))
                    fill=(format!("rgb({g},{g},{g})")) stroke="#d55e00" stroke-width="2" data-row=(r) data-col=(c) {
                    title { "row " (r) ", column " (c) }
                }
            }
        }
    }
}

/// Up to three significant decimals.
fn fmt_short(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The Wilson score interval of a proportion `p` over `n` trials at 95%
/// (Wilson 1927): stays inside [0, 1] and behaves at small `n`.
pub fn wilson(p: f64, n: f64) -> Option<(f64, f64)> {
    if n <= 0.0 || !p.is_finite() {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z2 / (4.0 * n * n)).max(0.0)).sqrt() / denom;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_textbook_interval() {
        // 8 of 10: the 95% Wilson interval is [0.490, 0.943].
        let (lo, hi) = wilson(0.8, 10.0).unwrap();
        assert!(
            (lo - 0.4902).abs() < 1e-3 && (hi - 0.9433).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert!(wilson(0.5, 0.0).is_none());
    }

    #[test]
    fn labels_are_escaped_inside_svg() {
        let b = Bars {
            title: "<t>".into(),
            series: vec!["a".into()],
            groups: vec![BarGroup {
                label: "<script>x</script>".into(),
                values: vec![Some(0.5)],
                ..BarGroup::default()
            }],
            ..Bars::default()
        };
        let s = bars(&b).into_string();
        assert!(!s.contains("<script>"), "{s}");
        assert!(s.contains("&lt;script&gt;"));
    }
}
