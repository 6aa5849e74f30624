//! The `robustness` gate: accuracy under black-box evasion attacks at a
//! stated budget.
//!
//! It takes `samples` rows (seeded choice) of clean labelled data, reports
//! the model's accuracy on them, then attacks every correctly classified row
//! with each configured attack (the noise baseline first, then HopSkipJump
//! and Square) and counts a row as robust only if no attack found a verified
//! adversarial example within ε. Attacks see the model only through
//! [`Oracle`], which checks every answer and stops at the deadline;
//! rows are attacked in parallel, each with its own seeded RNG stream, so the
//! result does not depend on thread scheduling.

pub mod attack;
pub mod domain;
pub mod hopskipjump;
pub mod noise;
pub mod square;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portcullis_evidence::{Confidence, Finding, Location, Severity, Threshold};
use portcullis_runtime::Classifier;
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::gate::{Evaluation, Gate, GateContext, GateError, Progress};
use crate::ml::data::LabelledData;
use crate::ml::oracle::{AttackError, Oracle};
use crate::ml::values;
use crate::ml::{layout, load};
use crate::params::parse_params;
use attack::{AttackResult, SampleOracle};
use domain::{Domain, Norm};
use hopskipjump::HsjParams;

/// The attacks this gate runs, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttackKind {
    /// Random perturbations at the full budget.
    Noise,
    /// HopSkipJump (label-only).
    HopSkipJump,
    /// Square Attack (score-based, L∞).
    Square,
}

impl AttackKind {
    /// The metric qualifier and spec name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttackKind::Noise => "noise",
            AttackKind::HopSkipJump => "hopskipjump",
            AttackKind::Square => "square",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "noise" => Some(AttackKind::Noise),
            "hopskipjump" | "hsj" | "hop-skip-jump" => Some(AttackKind::HopSkipJump),
            "square" => Some(AttackKind::Square),
            _ => None,
        }
    }
}

/// The `robustness` gate's spec keys; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobustnessParams {
    #[serde(default, deserialize_with = "values::opt_f64")]
    epsilon: Option<f64>,
    #[serde(default)]
    norm: Option<String>,
    #[serde(default)]
    epsilon_units: Option<String>,
    #[serde(default, deserialize_with = "values::str_list")]
    attack: Vec<String>,
    #[serde(default, deserialize_with = "values::opt_usize")]
    samples: Option<usize>,
    #[serde(default, deserialize_with = "values::opt_usize")]
    max_queries: Option<usize>,
    #[serde(default, deserialize_with = "values::num_list")]
    input_shape: Option<Vec<f64>>,
    #[serde(default, deserialize_with = "values::num_list")]
    clip: Option<Vec<f64>>,
    #[serde(default)]
    bounds: BTreeMap<String, Vec<f64>>,
    #[serde(default, deserialize_with = "values::str_list")]
    immutable: Vec<String>,
    #[serde(default, deserialize_with = "values::str_list")]
    integer: Vec<String>,
    #[serde(default, deserialize_with = "values::groups")]
    one_hot: Vec<Vec<String>>,
    #[serde(default, deserialize_with = "values::opt_usize")]
    noise_draws: Option<usize>,
    #[serde(default, deserialize_with = "values::opt_usize")]
    max_iter: Option<usize>,
    #[serde(default, deserialize_with = "values::opt_usize")]
    max_eval: Option<usize>,
    #[serde(default, deserialize_with = "values::opt_usize")]
    init_eval: Option<usize>,
    #[serde(default, deserialize_with = "values::opt_f64")]
    gamma: Option<f64>,
    #[serde(default, deserialize_with = "values::opt_f64")]
    square_p: Option<f64>,
    #[serde(default)]
    time_limit: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

/// The checked configuration of one robustness run.
#[derive(Debug, Clone, PartialEq)]
pub struct RobustnessConfig {
    /// The budget, in raw units or per-feature standard deviations.
    pub epsilon: f32,
    /// The budget's norm.
    pub norm: Norm,
    /// Measure ε in per-feature standard deviations.
    pub epsilon_in_std: bool,
    /// Attacks to run, in order.
    pub attacks: Vec<AttackKind>,
    /// Rows to draw.
    pub samples: usize,
    /// Query budget per attack per row.
    pub max_queries: u64,
    /// `[channels, height, width]` for images.
    pub input_shape: Option<[usize; 3]>,
    /// A global clip range (images); default per-feature data range.
    pub clip: Option<(f32, f32)>,
    /// Per-feature bounds by name.
    pub bounds: BTreeMap<String, (f32, f32)>,
    /// Features that may not change.
    pub immutable: Vec<String>,
    /// Integer features.
    pub integer: Vec<String>,
    /// One-hot groups.
    pub one_hot: Vec<Vec<String>>,
    /// Noise draws per row.
    pub noise_draws: usize,
    /// HopSkipJump schedule.
    pub hsj: HsjParams,
    /// Square Attack's initial window fraction.
    pub square_p: f32,
    /// Wall-time limit per attack per row.
    pub time_limit: Option<Duration>,
    /// The dataset key (`eval` by default).
    pub data: String,
    /// Label column override.
    pub label: Option<String>,
}

impl RobustnessConfig {
    /// Parses and checks a spec's parameters.
    ///
    /// # Errors
    /// [`GateError::Spec`] for unknown keys and out-of-range values.
    pub fn from_params(params: &serde_json::Map<String, serde_json::Value>) -> Result<Self, GateError> {
        parse_params(RobustnessGate::KIND, params).and_then(Self::new)
    }

    /// Checks deserialised spec parameters.
    ///
    /// # Errors
    /// [`GateError::Spec`] for out-of-range values.
    pub fn new(p: RobustnessParams) -> Result<Self, GateError> {
        let err = |m: String| GateError::Spec {
            kind: RobustnessGate::KIND.into(),
            message: m,
        };
        let norm = match p.norm.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("linf") | Some("inf") | Some("l_inf") => Norm::Linf,
            Some("l2") | Some("2") => Norm::L2,
            Some(other) => return Err(err(format!("`norm: {other}` is not supported (use l2 or linf)"))),
        };
        let epsilon = p.epsilon.ok_or_else(|| {
            err("`epsilon` is required: the perturbation budget in input units (e.g. epsilon: 0.1)".into())
        })?;
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(err(format!("`epsilon` must be a positive number, got {epsilon}")));
        }
        let epsilon_in_std = match p.epsilon_units.as_deref() {
            None | Some("raw") => false,
            Some("std") => true,
            Some(other) => return Err(err(format!("`epsilon_units: {other}` must be raw or std"))),
        };
        let mut attacks = Vec::new();
        if p.attack.is_empty() {
            attacks.push(AttackKind::Noise);
            attacks.push(AttackKind::HopSkipJump);
            if norm == Norm::Linf {
                attacks.push(AttackKind::Square);
            }
        } else {
            for a in &p.attack {
                let kind = AttackKind::parse(a).ok_or_else(|| {
                    err(format!(
                        "unknown attack '{a}' (known: noise, hopskipjump, square)"
                    ))
                })?;
                if kind == AttackKind::Square && norm != Norm::Linf {
                    return Err(err(
                        "the Square Attack runs in the linf norm only; set norm: linf or drop it".into(),
                    ));
                }
                if !attacks.contains(&kind) {
                    attacks.push(kind);
                }
            }
            attacks.sort();
        }
        let samples = p.samples.unwrap_or(100);
        if samples == 0 {
            return Err(err("`samples` must be at least 1".into()));
        }
        let max_queries = p.max_queries.unwrap_or(5_000);
        if max_queries == 0 {
            return Err(err(
                "`max_queries` must be at least 1: a budget of 0 cannot attack anything".into(),
            ));
        }
        let input_shape = layout::input_shape(RobustnessGate::KIND, p.input_shape.as_deref())?;
        let clip = layout::clip(RobustnessGate::KIND, p.clip.as_deref())?;
        let mut bounds = BTreeMap::new();
        for (name, b) in &p.bounds {
            match b.as_slice() {
                [lo, hi] if lo <= hi => {
                    bounds.insert(name.clone(), (*lo as f32, *hi as f32));
                }
                _ => return Err(err(format!("`bounds.{name}` must be [min, max], got {b:?}"))),
            }
        }
        let time_limit = p
            .time_limit
            .as_deref()
            .map(crate::params::parse_duration)
            .transpose()
            .map_err(|e| err(format!("`time_limit`: {e}")))?;
        let mut hsj = HsjParams::default();
        if let Some(m) = p.max_iter {
            hsj.max_iter = m;
        }
        if let Some(m) = p.max_eval {
            hsj.max_eval = m.max(1);
        }
        if let Some(m) = p.init_eval {
            hsj.init_eval = m.max(1);
        }
        if let Some(g) = p.gamma {
            if !(g.is_finite() && g > 0.0) {
                return Err(err(format!("`gamma` must be a positive number, got {g}")));
            }
            hsj.gamma = g as f32;
        }
        let square_p = p.square_p.unwrap_or(0.05);
        if !(square_p > 0.0 && square_p <= 1.0) {
            return Err(err(format!("`square_p` must be in (0, 1], got {square_p}")));
        }
        Ok(RobustnessConfig {
            epsilon: epsilon as f32,
            norm,
            epsilon_in_std,
            attacks,
            samples,
            max_queries: max_queries as u64,
            input_shape,
            clip,
            bounds,
            immutable: p.immutable,
            integer: p.integer,
            one_hot: p.one_hot,
            noise_draws: p.noise_draws.unwrap_or(100),
            hsj,
            square_p: square_p as f32,
            time_limit,
            data: p.data.unwrap_or_else(|| "eval".into()),
            label: p.label,
        })
    }

    /// Builds the domain (attack coordinates) and the per-feature scale.
    ///
    /// # Errors
    /// [`GateError::Input`] naming an unknown feature, or when ε exceeds
    /// the domain so every input trivially reaches every other.
    pub fn domain(&self, data: &LabelledData) -> Result<(Domain, Option<Vec<f32>>), GateError> {
        let d = data.x.cols;
        let (mut lo, mut hi) = layout::value_range(data, self.clip, self.input_shape.is_some());
        let index = |name: &str| {
            data.feature_index(name).ok_or_else(|| {
                GateError::Input(format!(
                    "feature '{name}' named in the robustness spec is not a column of {}",
                    data.source
                ))
            })
        };
        for (name, (l, h)) in &self.bounds {
            let j = index(name)?;
            if let (Some(a), Some(b)) = (lo.get_mut(j), hi.get_mut(j)) {
                *a = *l;
                *b = *h;
            }
        }
        let mut domain = Domain {
            lo,
            hi,
            immutable: vec![false; d],
            integer: vec![false; d],
            one_hot: Vec::new(),
            scale: vec![1.0; d],
        };
        for name in &self.immutable {
            let j = index(name)?;
            if let Some(v) = domain.immutable.get_mut(j) {
                *v = true;
            }
        }
        for name in &self.integer {
            let j = index(name)?;
            if let Some(v) = domain.integer.get_mut(j) {
                *v = true;
            }
        }
        for g in &self.one_hot {
            domain
                .one_hot
                .push(g.iter().map(|n| index(n)).collect::<Result<_, _>>()?);
        }
        let scale = if self.epsilon_in_std {
            let s: Vec<f32> = data
                .feature_std()
                .into_iter()
                .map(|v| if v > 0.0 && v.is_finite() { v } else { 1.0 })
                .collect();
            for (j, sj) in s.iter().enumerate() {
                if let (Some(l), Some(h)) = (domain.lo.get_mut(j), domain.hi.get_mut(j)) {
                    *l /= sj;
                    *h /= sj;
                }
            }
            domain.scale.clone_from(&s);
            Some(s)
        } else {
            None
        };
        let widths: Vec<f32> = (0..d)
            .filter(|j| domain.mutable(*j))
            .map(|j| domain.hi.get(j).copied().unwrap_or(0.0) - domain.lo.get(j).copied().unwrap_or(0.0))
            .collect();
        if widths.is_empty() {
            return Err(GateError::Input(
                "every feature is immutable: there is nothing to attack".into(),
            ));
        }
        let diameter = match self.norm {
            Norm::Linf => widths.iter().copied().fold(0.0, f32::max),
            Norm::L2 => widths.iter().map(|w| w * w).sum::<f32>().sqrt(),
        };
        if self.epsilon >= diameter {
            return Err(GateError::Input(format!(
                "epsilon {} ({}{}) is at least the whole input domain ({diameter} in {}): every input could be replaced by any other, so the budget is meaningless; lower epsilon",
                self.epsilon,
                self.norm,
                if self.epsilon_in_std { ", std units" } else { "" },
                self.norm
            )));
        }
        Ok((domain, scale))
    }
}

/// Per-row results of a robustness run.
#[derive(Debug, Clone, PartialEq)]
pub struct RowResult {
    /// Row index in the dataset.
    pub row: usize,
    /// True label.
    pub label: usize,
    /// Results per attack, in attack order.
    pub attacks: Vec<(AttackKind, AttackResult)>,
}

/// The `robustness` gate.
#[derive(Debug)]
pub struct RobustnessGate {
    config: RobustnessConfig,
}

impl RobustnessGate {
    /// Builds the gate from its spec parameters.
    ///
    /// # Errors
    /// As [`RobustnessConfig::new`].
    pub fn new(params: RobustnessParams) -> Result<Self, GateError> {
        Ok(RobustnessGate {
            config: RobustnessConfig::new(params)?,
        })
    }

    /// The checked configuration.
    pub fn config(&self) -> &RobustnessConfig {
        &self.config
    }
}

impl Gate for RobustnessGate {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    /// `robust_accuracy >= 0.5`: at least half of the sampled rows keep
    /// their label under every attack.
    fn default_require(&self) -> BTreeMap<String, Threshold> {
        let mut m = BTreeMap::new();
        if let Ok(t) = ">= 0.5".parse::<Threshold>() {
            m.insert("robust_accuracy".to_string(), t);
        }
        m
    }

    fn evaluate(&self, ctx: &GateContext<'_>) -> Result<Evaluation, GateError> {
        let loaded = load::load(ctx, &self.config.data, self.config.label.as_deref(), &[])?;
        let mut eval = assess(
            loaded.model.as_ref(),
            &loaded.data,
            &self.config,
            ctx.seed,
            ctx.progress,
            ctx.deadline,
        )?;
        eval.inputs.extend(loaded.inputs);
        Ok(eval)
    }
}

fn median(v: &mut [f32]) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    let n = v.len();
    let m = if n % 2 == 1 {
        v.get(n / 2).copied()
    } else {
        Some((v.get(n / 2 - 1).copied()? + v.get(n / 2).copied()?) / 2.0)
    };
    m
}

/// Runs the robustness evaluation of `model` on `data`.
///
/// # Errors
/// [`GateError::Input`] for unusable data (no rows, one class, features that
/// do not fit the model); [`GateError::Other`] when the model fails;
/// [`GateError::Deadline`] when the deadline passes, saying how many rows
/// were attacked.
pub fn assess(
    model: &dyn Classifier,
    data: &LabelledData,
    config: &RobustnessConfig,
    seed: u64,
    progress: &dyn Progress,
    deadline: Option<Instant>,
) -> Result<Evaluation, GateError> {
    if data.is_empty() {
        return Err(GateError::Input(format!("{} has no rows", data.source)));
    }
    let mut classes: Vec<usize> = data.y.clone();
    classes.sort_unstable();
    classes.dedup();
    if classes.len() < 2 {
        return Err(GateError::Input(format!(
            "{} holds a single class; robustness needs labelled rows of at least two classes",
            data.source
        )));
    }
    let n_features = model.signature().n_features;
    if n_features != 0 && n_features != data.x.cols {
        return Err(GateError::Input(format!(
            "{} has {} feature columns but the model expects {n_features}",
            data.source, data.x.cols
        )));
    }
    let (domain, scale) = config.domain(data)?;
    let oracle =
        Oracle::new(model, data.x.cols, scale, deadline).map_err(|e| GateError::Input(e.to_string()))?;
    let shape = config
        .input_shape
        .or_else(|| match model.signature().shape.as_deref() {
            Some([c, h, w]) => Some([*c, *h, *w]),
            Some([h, w]) => Some([1, *h, *w]),
            _ => None,
        })
        .filter(|[c, h, w]| c * h * w == data.x.cols);
    if config.input_shape.is_some() && shape.is_none() {
        return Err(GateError::Input(format!(
            "input_shape {:?} does not hold {} features",
            config.input_shape, data.x.cols
        )));
    }

    // Seeded choice of rows.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = config.samples.min(data.len());
    let mut rows: Vec<usize> = sample(&mut rng, data.len(), k).into_vec();
    rows.sort_unstable();
    let chosen = data.select(&rows);
    let z: Vec<f32> = (0..chosen.len())
        .flat_map(|i| oracle.to_attack(chosen.x.row(i)))
        .collect();
    let preds = oracle.labels(&z).map_err(|e| model_error(e, 0, k))?;
    let correct: Vec<usize> = (0..k).filter(|i| preds.get(*i) == chosen.y.get(*i)).collect();
    let clean_accuracy = correct.len() as f64 / k as f64;

    progress.set_length(correct.len() as u64);
    progress.message(&format!(
        "attacking {} correctly classified rows with {}",
        correct.len(),
        config
            .attacks
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let done = AtomicUsize::new(0);
    let d = data.x.cols;
    let results: Vec<Result<RowResult, AttackError>> = correct
        .par_iter()
        .map(|&i| {
            let x0 = z.get(i * d..(i + 1) * d).unwrap_or_default();
            let y0 = chosen.y.get(i).copied().unwrap_or(0);
            let row = rows.get(i).copied().unwrap_or(i);
            let mut out = Vec::new();
            for (ai, &kind) in config.attacks.iter().enumerate() {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream((row as u64) * 8 + ai as u64 + 1);
                let until = config.time_limit.map(|t| Instant::now() + t);
                let mut q = SampleOracle::new(&oracle, y0, config.max_queries, until);
                let r = match kind {
                    AttackKind::Noise => noise::noise_attack(
                        &mut q,
                        &domain,
                        x0,
                        config.norm,
                        config.epsilon,
                        config.noise_draws,
                        &mut rng,
                    )?,
                    AttackKind::HopSkipJump => hopskipjump::hopskipjump(
                        &mut q,
                        &domain,
                        x0,
                        config.norm,
                        config.epsilon,
                        &config.hsj,
                        &mut rng,
                    )?,
                    AttackKind::Square => square::square_attack(
                        &mut q,
                        &domain,
                        x0,
                        config.epsilon,
                        shape,
                        config.square_p,
                        &mut rng,
                    )?,
                };
                out.push((kind, r));
            }
            done.fetch_add(1, Ordering::Relaxed);
            progress.inc(1);
            Ok(RowResult {
                row,
                label: y0,
                attacks: out,
            })
        })
        .collect();
    let finished = done.load(Ordering::Relaxed);
    let mut row_results = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(r) => row_results.push(r),
            Err(e) => return Err(model_error(e, finished, correct.len())),
        }
    }
    Ok(summarise(config, &oracle, data, k, clean_accuracy, &row_results))
}

fn model_error(e: AttackError, done: usize, total: usize) -> GateError {
    match e {
        AttackError::Deadline => GateError::Deadline(format!(
            "robustness attacked {done} of {total} rows before the deadline; an unfinished attack proves nothing"
        )),
        AttackError::Model(m) => GateError::Other(format!("the model failed during the attack: {m}")),
        AttackError::Input(m) => GateError::Input(m),
    }
}

/// Budgets on the accuracy curve: ε·i/8 for i in 0..=8.
const CURVE_STEPS: usize = 8;

fn summarise(
    config: &RobustnessConfig,
    oracle: &Oracle<'_>,
    data: &LabelledData,
    k: usize,
    clean_accuracy: f64,
    rows: &[RowResult],
) -> Evaluation {
    let mut eval = Evaluation::default();
    let attacked = rows.len();
    let robust = rows
        .iter()
        .filter(|r| r.attacks.iter().all(|(_, a)| !a.success))
        .count();
    eval.metrics.insert("clean_accuracy".into(), clean_accuracy);
    eval.metrics
        .insert("robust_accuracy".into(), robust as f64 / k as f64);
    eval.metrics.insert("samples".into(), k as f64);
    eval.metrics.insert("attacked".into(), attacked as f64);
    eval.metrics.insert("queries".into(), oracle.queries() as f64);
    let mut per_attack = Vec::new();
    let mut time_limited_total = 0;
    for &kind in &config.attacks {
        let results: Vec<&AttackResult> = rows
            .iter()
            .filter_map(|r| r.attacks.iter().find(|(k, _)| *k == kind).map(|(_, a)| a))
            .collect();
        let broken = results.iter().filter(|a| a.success).count();
        let rate = if attacked == 0 {
            0.0
        } else {
            broken as f64 / attacked as f64
        };
        let mut dists: Vec<f32> = results
            .iter()
            .filter(|a| a.adversarial.is_some())
            .map(|a| a.distance)
            .collect();
        let med = median(&mut dists);
        let queries: u64 = results.iter().map(|a| a.queries).sum();
        let time_limited = results.iter().filter(|a| a.time_limited).count();
        time_limited_total += time_limited;
        let name = kind.as_str();
        eval.metrics.insert(format!("attack_success_rate[{name}]"), rate);
        if let Some(m) = med {
            eval.metrics
                .insert(format!("median_perturbation[{name}]"), f64::from(m));
        }
        eval.metrics.insert(format!("queries[{name}]"), queries as f64);
        if broken > 0 {
            let example = rows
                .iter()
                .filter_map(|r| r.attacks.iter().find(|(k, _)| *k == kind).map(|(_, a)| (r, a)))
                .filter(|(_, a)| a.success)
                .min_by(|a, b| a.1.distance.total_cmp(&b.1.distance));
            let mut f = Finding::new(
                format!("robustness-{name}"),
                Severity::Medium,
                format!(
                    "{name} flipped {broken} of {attacked} correctly classified rows within {} = {}{}",
                    config.norm,
                    config.epsilon,
                    if config.epsilon_in_std { " std" } else { "" }
                ),
            )
            .confidence(Confidence::High)
            .fix("harden the model (adversarial training, input quantisation, feature constraints) or justify a larger threshold");
            if let Some((r, a)) = example {
                f = f.at(Location::file(data.source.clone()).label(format!(
                    "row {} (label {}) flipped at {} distance {:.4}",
                    r.row, r.label, config.norm, a.distance
                )));
            }
            eval.findings.push(f);
        }
        // Accuracy against the budget up to ε, from the smallest adversarial
        // example the attack found per row: a row counts as broken at ε' when
        // one lies within ε'. An upper bound on the true robust accuracy (a
        // stronger attack could only break more rows), as for the headline
        // figure at ε.
        let curve: Vec<serde_json::Value> = (0..=CURVE_STEPS)
            .map(|i| {
                let e = config.epsilon * i as f32 / CURVE_STEPS as f32;
                let within = results
                    .iter()
                    .filter(|a| a.adversarial.is_some() && a.distance <= e * (1.0 + 1e-5) + 1e-7)
                    .count();
                let kept = if attacked == 0 {
                    1.0
                } else {
                    1.0 - within as f64 / attacked as f64
                };
                json!({"epsilon": e, "accuracy": clean_accuracy * kept})
            })
            .collect();
        per_attack.push(json!({
            "attack": name,
            "broken": broken,
            "attacked": attacked,
            "curve": curve,
            "median_perturbation": med,
            "queries": queries,
            "time_limited": time_limited,
        }));
    }
    if time_limited_total > 0 {
        eval.failures.push(format!(
            "{time_limited_total} attack runs hit the per-row time limit before using their query budget; raise time_limit so the result is not an artefact of stopping early"
        ));
    }
    let examples: Vec<serde_json::Value> = rows
        .iter()
        .take(100)
        .map(|r| {
            json!({
                "row": r.row,
                "label": r.label,
                "attacks": r.attacks.iter().map(|(k, a)| json!({
                    "attack": k.as_str(),
                    "success": a.success,
                    "distance": a.adversarial.as_ref().map(|_| a.distance),
                    "queries": a.queries,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    eval.details = json!({
        "data": data.source,
        "norm": config.norm.as_str(),
        "epsilon": config.epsilon,
        "epsilon_units": if config.epsilon_in_std { "std" } else { "raw" },
        "max_queries": config.max_queries,
        "attacks": per_attack,
        "rows": examples,
    });
    eval
}

#[cfg(test)]
mod tests;
