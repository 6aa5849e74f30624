//! Attack correctness against models whose minimal adversarial distances
//! are known in closed form.

use super::*;
use crate::gate::NoProgress;
use portcullis_runtime::{ClassLabel, InputSignature, Matrix, RuntimeError};
use rand::Rng;

/// Two classes split by the hyperplane `w·x + b = 0`: the minimal L2
/// distance to the boundary is `|w·x+b| / ‖w‖₂` and the minimal L∞ distance
/// is `|w·x+b| / ‖w‖₁` (when the box does not bind).
pub(crate) struct Linear {
    pub w: Vec<f32>,
    pub b: f32,
    sig: InputSignature,
    classes: Vec<ClassLabel>,
}

impl Linear {
    pub fn new(w: Vec<f32>, b: f32) -> Self {
        let sig = InputSignature {
            n_features: w.len(),
            ..Default::default()
        };
        Linear {
            w,
            b,
            sig,
            classes: vec![ClassLabel::Int(0), ClassLabel::Int(1)],
        }
    }
    fn score(&self, x: &[f32]) -> f32 {
        x.iter().zip(&self.w).map(|(a, b)| a * b).sum::<f32>() + self.b
    }
    fn l2(&self, x: &[f32]) -> f32 {
        self.score(x).abs() / self.w.iter().map(|v| v * v).sum::<f32>().sqrt()
    }
    fn linf(&self, x: &[f32]) -> f32 {
        self.score(x).abs() / self.w.iter().map(|v| v.abs()).sum::<f32>()
    }
}

impl Classifier for Linear {
    fn signature(&self) -> &InputSignature {
        &self.sig
    }
    fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }
    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, RuntimeError> {
        let mut out = Vec::with_capacity(x.rows * 2);
        for i in 0..x.rows {
            let p = 1.0 / (1.0 + (-self.score(x.row(i))).exp());
            out.push(1.0 - p);
            out.push(p);
        }
        Matrix::new(out, x.rows, 2)
    }
}

fn setup(d: usize, n: usize) -> (Linear, Vec<Vec<f32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let w: Vec<f32> = (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let model = Linear::new(w, 0.0);
    let xs = (0..n)
        .map(|_| (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect::<Vec<f32>>())
        .filter(|x| model.l2(x) > 0.05)
        .collect();
    (model, xs)
}

fn label(model: &Linear, x: &[f32]) -> usize {
    usize::from(model.score(x) > 0.0)
}

fn check_adversarial(model: &Linear, domain: &Domain, x0: &[f32], r: &AttackResult, norm: Norm, eps: f32) {
    if r.success {
        let adv = r.adversarial.as_ref().unwrap();
        assert_ne!(
            label(model, adv),
            label(model, x0),
            "reported example is not misclassified"
        );
        assert!(norm.dist(adv, x0) <= eps * 1.0001 + 1e-6, "outside the budget");
        assert_eq!(domain.violation(x0, adv), None);
    }
}

#[test]
fn hopskipjump_l2_gets_within_1_05x_of_the_closed_form_distance() {
    let (model, xs) = setup(20, 12);
    let oracle = Oracle::new(&model, 20, None, None).unwrap();
    let domain = Domain::boxed(20, -10.0, 10.0);
    let mut ratios = Vec::new();
    for (i, x0) in xs.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        let mut q = SampleOracle::new(&oracle, label(&model, x0), 5_000, None);
        // ε = 0: run the whole schedule and report the closest point.
        let r = hopskipjump::hopskipjump(
            &mut q,
            &domain,
            x0,
            Norm::L2,
            0.0,
            &HsjParams::default(),
            &mut rng,
        )
        .unwrap();
        let adv = r
            .adversarial
            .as_ref()
            .expect("hsj always finds a point on a linear model");
        assert_ne!(label(&model, adv), label(&model, x0));
        assert!(r.queries <= 5_001);
        ratios.push(r.distance / model.l2(x0));
    }
    ratios.sort_by(f32::total_cmp);
    let median = ratios[ratios.len() / 2];
    eprintln!("distance ratios: {ratios:?}");
    assert!(median <= 1.05, "median distance ratio {median}, all {ratios:?}");
    assert!(
        ratios.iter().all(|r| *r >= 0.999),
        "below the minimum is impossible: {ratios:?}"
    );
}

#[test]
fn hopskipjump_linf_gets_within_1_1x_of_the_closed_form_distance() {
    let (model, xs) = setup(10, 8);
    let oracle = Oracle::new(&model, 10, None, None).unwrap();
    let domain = Domain::boxed(10, -10.0, 10.0);
    let mut ratios = Vec::new();
    for (i, x0) in xs.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        let mut q = SampleOracle::new(&oracle, label(&model, x0), 5_000, None);
        let r = hopskipjump::hopskipjump(
            &mut q,
            &domain,
            x0,
            Norm::Linf,
            0.0,
            &HsjParams::default(),
            &mut rng,
        )
        .unwrap();
        ratios.push(r.distance / model.linf(x0));
    }
    ratios.sort_by(f32::total_cmp);
    let median = ratios[ratios.len() / 2];
    eprintln!("distance ratios: {ratios:?}");
    assert!(median <= 1.1, "median L∞ ratio {median}, all {ratios:?}");
}

#[test]
fn square_breaks_linf_rows_just_above_the_closed_form_distance_and_never_below() {
    let (model, xs) = setup(20, 20);
    let oracle = Oracle::new(&model, 20, None, None).unwrap();
    let domain = Domain::boxed(20, -10.0, 10.0);
    let mut above = 0;
    let mut noise_above = 0;
    for (i, x0) in xs.iter().enumerate() {
        let dinf = model.linf(x0);
        let y0 = label(&model, x0);
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        let mut q = SampleOracle::new(&oracle, y0, 2_000, None);
        let r = square::square_attack(&mut q, &domain, x0, dinf * 1.1, None, 0.05, &mut rng).unwrap();
        check_adversarial(&model, &domain, x0, &r, Norm::Linf, dinf * 1.1);
        above += usize::from(r.success);
        let mut q = SampleOracle::new(&oracle, y0, 2_000, None);
        let r = square::square_attack(&mut q, &domain, x0, dinf * 0.95, None, 0.05, &mut rng).unwrap();
        assert!(
            !r.success,
            "no adversarial example exists below the minimal distance"
        );
        let mut q = SampleOracle::new(&oracle, y0, 2_000, None);
        let r = noise::noise_attack(&mut q, &domain, x0, Norm::Linf, dinf * 1.1, 1_999, &mut rng).unwrap();
        check_adversarial(&model, &domain, x0, &r, Norm::Linf, dinf * 1.1);
        noise_above += usize::from(r.success);
    }
    let n = xs.len();
    eprintln!("square {above}/{n}, noise {noise_above}/{n}");
    assert!(
        above * 10 >= n * 9,
        "square broke {above} of {n} at 1.1× the minimal L∞ distance"
    );
    // The same test with noise alone fails: these tests need a real attack.
    assert!(noise_above * 2 < n, "noise broke {noise_above} of {n}");
}

#[test]
fn noise_alone_cannot_reach_the_l2_boundary_that_hopskipjump_reaches() {
    let (model, xs) = setup(20, 12);
    let oracle = Oracle::new(&model, 20, None, None).unwrap();
    let domain = Domain::boxed(20, -10.0, 10.0);
    let (mut hsj, mut noise) = (0, 0);
    for (i, x0) in xs.iter().enumerate() {
        // At 1.2× the minimal distance a random L2 direction in d = 20 crosses
        // with probability about 1.4e-6, so 1 000 noise draws break a row with
        // probability about 0.1%; at 1.5× it is about 38%.
        let eps = model.l2(x0) * 1.2;
        let y0 = label(&model, x0);
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        let mut q = SampleOracle::new(&oracle, y0, 5_000, None);
        let r = hopskipjump::hopskipjump(
            &mut q,
            &domain,
            x0,
            Norm::L2,
            eps,
            &HsjParams::default(),
            &mut rng,
        )
        .unwrap();
        check_adversarial(&model, &domain, x0, &r, Norm::L2, eps);
        hsj += usize::from(r.success);
        let mut q = SampleOracle::new(&oracle, y0, 5_000, None);
        let r = noise::noise_attack(&mut q, &domain, x0, Norm::L2, eps, 1_000, &mut rng).unwrap();
        noise += usize::from(r.success);
    }
    assert_eq!(hsj, xs.len());
    assert!(noise * 3 < xs.len(), "noise broke {noise}");
}

#[test]
fn attacks_respect_immutable_integer_and_box_constraints() {
    let (model, xs) = setup(8, 10);
    let oracle = Oracle::new(&model, 8, None, None).unwrap();
    let mut domain = Domain::boxed(8, -1.0, 1.0);
    domain.immutable[0] = true;
    domain.immutable[3] = true;
    domain.integer[5] = true;
    for (i, x0) in xs.iter().enumerate() {
        let mut x0 = x0.clone();
        x0[5] = x0[5].round();
        let y0 = label(&model, &x0);
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        for norm in [Norm::L2, Norm::Linf] {
            let mut q = SampleOracle::new(&oracle, y0, 2_000, None);
            let r =
                hopskipjump::hopskipjump(&mut q, &domain, &x0, norm, 1.0, &HsjParams::default(), &mut rng)
                    .unwrap();
            check_adversarial(&model, &domain, &x0, &r, norm, 1.0);
            if let Some(a) = &r.adversarial {
                assert_eq!(a[0], x0[0]);
                assert_eq!(a[3], x0[3]);
            }
        }
        let mut q = SampleOracle::new(&oracle, y0, 2_000, None);
        let r = square::square_attack(&mut q, &domain, &x0, 0.5, None, 0.05, &mut rng).unwrap();
        check_adversarial(&model, &domain, &x0, &r, Norm::Linf, 0.5);
    }
}

fn dataset(model: &Linear, xs: &[Vec<f32>]) -> LabelledData {
    let d = model.w.len();
    LabelledData {
        x: Matrix::new(xs.concat(), xs.len(), d).unwrap(),
        y: xs.iter().map(|x| label(model, x)).collect(),
        feature_names: (0..d).map(|j| format!("f{j}")).collect(),
        extra: Vec::new(),
        source: "test.csv".into(),
    }
}

fn config(json: serde_json::Value) -> RobustnessConfig {
    RobustnessConfig::from_params(json.as_object().unwrap()).unwrap()
}

#[test]
fn same_seed_gives_the_same_metrics_and_robust_accuracy_is_the_worst_case() {
    let (model, xs) = setup(10, 40);
    let data = dataset(&model, &xs);
    let cfg = config(json!({"epsilon": 0.3, "norm": "linf", "samples": 20, "max_queries": "500"}));
    let a = assess(&model, &data, &cfg, 9, &NoProgress, None).unwrap();
    let b = assess(&model, &data, &cfg, 9, &NoProgress, None).unwrap();
    assert_eq!(a.metrics, b.metrics);
    let robust = a.metrics["robust_accuracy"];
    for kind in ["noise", "hopskipjump", "square"] {
        let rate = a.metrics[&format!("attack_success_rate[{kind}]")];
        assert!(
            robust <= a.metrics["clean_accuracy"] * (1.0 - rate) + 1e-9,
            "{kind}: {:?}",
            a.metrics
        );
    }
    assert!(a.metrics["queries"] > 0.0);
}

#[test]
fn spec_rejects_zero_budget_unknown_attack_and_square_in_l2() {
    let bad = |v: serde_json::Value| {
        RobustnessConfig::from_params(v.as_object().unwrap())
            .unwrap_err()
            .to_string()
    };
    assert!(bad(json!({"epsilon": 0.1, "max_queries": 0})).contains("budget of 0"));
    assert!(bad(json!({"epsilon": 0.1, "attack": "noise,fgsm"})).contains("fgsm"));
    assert!(bad(json!({"epsilon": 0.1, "norm": "l2", "attack": ["square"]})).contains("linf"));
    assert!(bad(json!({"samples": 3})).contains("epsilon"));
    assert!(bad(json!({"epsilon": 0.1, "bogus": 1})).contains("bogus"));
    assert!(bad(json!({"epsilon": 0.1, "gamma": 0})).contains("gamma"));
    let ok =
        config(json!({"epsilon": "0.1", "attack": "noise, hsj", "clip": "0,16", "input_shape": "[1,8,8]"}));
    assert_eq!(ok.attacks, vec![AttackKind::Noise, AttackKind::HopSkipJump]);
    assert_eq!(ok.input_shape, Some([1, 8, 8]));
    assert_eq!(ok.hsj.gamma, 1.0, "the paper's default");
    assert_eq!(config(json!({"epsilon": 0.1, "gamma": 0.64})).hsj.gamma, 0.64);
}

#[test]
fn fill_gaussian_draws_standard_normal_values_into_every_slot() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    // An odd length: the last pair is half used.
    let mut v = vec![f32::NAN; 40_001];
    attack::fill_gaussian(&mut rng, &mut v);
    assert!(v.iter().all(|x| x.is_finite()));
    let n = v.len() as f64;
    let mean = v.iter().map(|x| f64::from(*x)).sum::<f64>() / n;
    let var = v.iter().map(|x| (f64::from(*x) - mean).powi(2)).sum::<f64>() / n;
    let within_1sd = v.iter().filter(|x| x.abs() <= 1.0).count() as f64 / n;
    assert!(mean.abs() < 0.02, "mean {mean}");
    assert!((var - 1.0).abs() < 0.03, "variance {var}");
    assert!(
        (within_1sd - 0.6827).abs() < 0.01,
        "share within one sd {within_1sd}"
    );
}

struct Broken {
    sig: InputSignature,
    classes: Vec<ClassLabel>,
    mode: u8,
}

impl Classifier for Broken {
    fn signature(&self) -> &InputSignature {
        &self.sig
    }
    fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }
    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, RuntimeError> {
        match self.mode {
            0 => Matrix::new(vec![f32::NAN; x.rows * 2], x.rows, 2),
            1 => Matrix::new(vec![0.5; x.rows * 3], x.rows, 3),
            _ => Err(RuntimeError::Backend("endpoint timed out".into())),
        }
    }
}

#[test]
fn bad_models_and_bad_data_fail_closed_with_a_reason() {
    let (model, xs) = setup(4, 30);
    let data = dataset(&model, &xs);
    let cfg = config(json!({"epsilon": 0.2, "samples": 10, "max_queries": 200}));
    for (mode, want) in [(0, "non-finite"), (1, "probability matrix"), (2, "timed out")] {
        let m = Broken {
            sig: InputSignature {
                n_features: 4,
                ..Default::default()
            },
            classes: vec![ClassLabel::Int(0), ClassLabel::Int(1)],
            mode,
        };
        let e = assess(&m, &data, &cfg, 1, &NoProgress, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
    let mut one = data.clone();
    one.y = vec![0; one.y.len()];
    let e = assess(&model, &one, &cfg, 1, &NoProgress, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("single class"), "{e}");
    let huge = config(json!({"epsilon": 50.0, "samples": 10}));
    let e = assess(&model, &data, &huge, 1, &NoProgress, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("whole input domain"), "{e}");
    let past = Instant::now() - Duration::from_secs(1);
    let e = assess(&model, &data, &cfg, 1, &NoProgress, Some(past)).unwrap_err();
    assert!(matches!(e, GateError::Deadline(_)), "{e}");
}

#[test]
fn epsilon_in_std_units_scales_per_feature() {
    // Feature 1 spans 100× the range of feature 0; in std units the same ε
    // allows a 100× larger raw change on it.
    let model = Linear::new(vec![0.0, 1.0], -50.0);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let xs: Vec<Vec<f32>> = (0..60)
        .map(|_| vec![rng.gen_range(0.0..1.0), rng.gen_range(0.0..100.0)])
        .collect();
    let data = dataset(&model, &xs);
    let raw = config(json!({"epsilon": 0.5, "samples": 60, "max_queries": 300, "attack": "noise,square"}));
    let std = config(
        json!({"epsilon": 0.5, "epsilon_units": "std", "samples": 60, "max_queries": 300, "attack": "noise,square"}),
    );
    let a = assess(&model, &data, &raw, 1, &NoProgress, None).unwrap();
    let b = assess(&model, &data, &std, 1, &NoProgress, None).unwrap();
    assert!(a.metrics["robust_accuracy"] > 0.9, "{:?}", a.metrics);
    assert!(b.metrics["robust_accuracy"] < 0.8, "{:?}", b.metrics);
}
