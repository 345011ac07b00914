//! Initialisers: NumPy reproduction, PyTorch's scales, sample statistics, seeding and validation.
//!
//! Golden constants were printed by `tests/golden/init.py` (NumPy 2.4.6 legacy seeded generator,
//! torch 2.15.0). Statistical checks draw 100 000 values with a fixed seed and allow five standard
//! errors, derived from the sample size below each check.

use backprop::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

// ----- golden values printed by tests/golden/init.py ------------------------------------------

#[rustfmt::skip]
mod golden {
    pub const UNIFORM_42: [[f64; 4]; 3] = [[-0.025091976230527502, 0.09014286128198323, 0.04639878836228101, 0.019731696839407314], [-0.0687962719115127, -0.06880109593275947, -0.08838327756636011, 0.07323522915498704], [0.07022733430337139, -0.03661559896874447, -0.0661014506627815, 0.011360252491670025]];
    pub const NORMAL_1: [f64; 9] = [3.7486907273264833, -0.7235128273001508, -0.5563435045269114, -1.645937244312341, 2.230815258649357, -4.103077393760565, 3.98962352843296, -1.0224138017902056, 1.1380781921141971];
    pub const NORMAL_5_A: [f64; 4] = [0.44122748688504143, -0.33087015189408764, 2.43077118700778, -0.2520921296030769];
    pub const NORMAL_5_B: [f64; 6] = [-0.9890390158421817, -0.8417518882938436, -1.0909232404856242, -1.0591636657930288, -0.9812396774162965, -1.0329869957779358];
    // fan_in 64, fan_out 4, relu gain 1.4142135623730951
    pub const HE_UNIFORM_BOUND: f64 = 0.3061862178478973;
    pub const HE_NORMAL_STD: f64 = 0.1767766952966369;
    pub const GLOROT_UNIFORM_BOUND: f64 = 0.2970442628930023;
    pub const GLOROT_NORMAL_STD: f64 = 0.17149858514250885;
    // torch kaiming_uniform_: max |w| 0.3061852723620962
    // torch kaiming_normal_: std 0.176275721307356
}
use golden::*;

// ----- NumPy reproduction ------------------------------------------------------------------------

#[test]
fn uniform_reproduces_numpy_uniform() {
    // np.random.seed(42); np.random.uniform(-.1, .1, (64, 4)): same formula, same bits.
    let w: Matrix<f64> = Uniform::new(-0.1, 0.1)
        .unwrap()
        .weights(64, 4, &mut NumpyRng::new(42))
        .unwrap();
    assert_eq!(w.shape(), (64, 4));
    for (row, golden) in [0, 1, 63].into_iter().zip(UNIFORM_42) {
        for (col, expected) in golden.into_iter().enumerate() {
            assert_eq!(w[(row, col)], expected, "({row}, {col})");
        }
    }
}

#[test]
fn normal_reproduces_numpy_normal() {
    // np.random.seed(1); np.random.normal(0.5, 2.0, (3, 3)), row-major.
    let w: Matrix<f64> = Normal::new(0.5, 2.0)
        .unwrap()
        .weights(3, 3, &mut NumpyRng::new(1))
        .unwrap();
    let got: Vec<f64> = w.transpose().iter().copied().collect();
    assert_eq!(got, NORMAL_1);

    // Two matrices in a row: an even count first, so NumPy keeps no spare value.
    let mut rng = NumpyRng::new(5);
    let a: Matrix<f64> = Normal::new(0.0, 1.0)
        .unwrap()
        .weights(2, 2, &mut rng)
        .unwrap();
    let b: Matrix<f64> = Normal::new(-1.0, 0.1)
        .unwrap()
        .weights(2, 3, &mut rng)
        .unwrap();
    assert_eq!(
        a.transpose().iter().copied().collect::<Vec<_>>(),
        NORMAL_5_A
    );
    assert_eq!(
        b.transpose().iter().copied().collect::<Vec<_>>(),
        NORMAL_5_B
    );
}

#[test]
fn he_and_glorot_are_numpy_draws_at_pytorchs_scales() {
    // With the same generator, HeUniform is np.random.uniform(-bound, bound) at torch's bound, and
    // the normal ones are np.random.normal(0, std) at torch's std.
    let (fan_in, fan_out) = (64, 4);
    type Case = (&'static dyn Initializer<f64>, Box<dyn Initializer<f64>>);
    let cases: [Case; 4] = [
        (
            &HeUniform,
            Box::new(Uniform::new(-HE_UNIFORM_BOUND, HE_UNIFORM_BOUND).unwrap()),
        ),
        (
            &GlorotUniform,
            Box::new(Uniform::new(-GLOROT_UNIFORM_BOUND, GLOROT_UNIFORM_BOUND).unwrap()),
        ),
        (
            &HeNormal,
            Box::new(Normal::new(0.0, HE_NORMAL_STD).unwrap()),
        ),
        (
            &GlorotNormal,
            Box::new(Normal::new(0.0, GLOROT_NORMAL_STD).unwrap()),
        ),
    ];
    for (init, reference) in cases {
        let w = init
            .weights(fan_in, fan_out, &mut NumpyRng::new(9))
            .unwrap();
        let r = reference
            .weights(fan_in, fan_out, &mut NumpyRng::new(9))
            .unwrap();
        for (a, b) in w.iter().zip(r.iter()) {
            assert!((a - b).abs() <= 1e-15, "{init:?}: {a} vs {b}");
        }
    }
}

// ----- statistics over a large draw --------------------------------------------------------------

const ROWS: usize = 200;
const COLS: usize = 500;
const N: f64 = (ROWS * COLS) as f64;

fn mean_var(w: &Matrix<f64>) -> (f64, f64) {
    let mean = w.mean();
    let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (N - 1.0);
    (mean, var)
}

/// Uniform on [lo, hi): mean (lo+hi)/2, variance (hi-lo)^2/12; the standard error of the mean is
/// sigma/sqrt(n) and of the sample variance sigma^2 * sqrt(0.8/n) (fourth central moment
/// (hi-lo)^4/80).
fn check_uniform(w: &Matrix<f64>, lo: f64, hi: f64, what: &str) {
    assert!(
        w.iter().all(|&v| lo <= v && v < hi),
        "{what}: a draw outside [{lo}, {hi})"
    );
    let (mean, var) = mean_var(w);
    let sigma2 = (hi - lo).powi(2) / 12.0;
    let mean_tol = 5.0 * (sigma2 / N).sqrt();
    let var_tol = 5.0 * sigma2 * (0.8 / N).sqrt();
    assert!(
        (mean - (lo + hi) / 2.0).abs() < mean_tol,
        "{what}: mean {mean}"
    );
    assert!(
        (var - sigma2).abs() < var_tol,
        "{what}: variance {var}, expected {sigma2}"
    );
    // The extremes come close to the bounds: P(no draw in the top 0.1%) = 0.999^n, about 4e-44.
    let span = hi - lo;
    assert!(
        w.max() > hi - 1e-3 * span && w.min() < lo + 1e-3 * span,
        "{what}: range"
    );
}

/// Normal(mean, std): standard error of the mean std/sqrt(n), of the sample variance
/// std^2 * sqrt(2/(n-1)); also about 68.27% within one std (binomial error sqrt(p(1-p)/n)).
fn check_normal(w: &Matrix<f64>, mu: f64, std: f64, what: &str) {
    let (mean, var) = mean_var(w);
    assert!(
        (mean - mu).abs() < 5.0 * std / N.sqrt(),
        "{what}: mean {mean}"
    );
    let var_tol = 5.0 * std * std * (2.0 / (N - 1.0)).sqrt();
    assert!(
        (var - std * std).abs() < var_tol,
        "{what}: variance {var}, expected {}",
        std * std
    );
    let within = w.iter().filter(|&&v| (v - mu).abs() < std).count() as f64 / N;
    let p = 0.682_689_492_137_086;
    assert!(
        (within - p).abs() < 5.0 * (p * (1.0 - p) / N).sqrt(),
        "{what}: {within} within 1 std"
    );
}

#[test]
fn uniform_statistics() {
    for (lo, hi) in [(-0.1, 0.1), (2.0, 5.0), (-3.0, -1.0)] {
        let w = Uniform::new(lo, hi)
            .unwrap()
            .weights(ROWS, COLS, &mut NumpyRng::new(11))
            .unwrap();
        check_uniform(&w, lo, hi, &format!("Uniform({lo}, {hi})"));
    }
    let w = Initializer::<f64>::weights(&BookUniform, ROWS, COLS, &mut NumpyRng::new(12)).unwrap();
    check_uniform(&w, -1.0, 1.0, "BookUniform");
}

#[test]
fn normal_statistics() {
    for (mu, std) in [(0.0, 1.0), (0.5, 2.0), (-1.0, 0.01)] {
        let w = Normal::new(mu, std)
            .unwrap()
            .weights(ROWS, COLS, &mut NumpyRng::new(13))
            .unwrap();
        check_normal(&w, mu, std, &format!("Normal({mu}, {std})"));
    }
    // std = 0 is allowed: every weight is the mean.
    let w: Matrix<f64> = Normal::new(0.25, 0.0)
        .unwrap()
        .weights(3, 4, &mut NumpyRng::new(1))
        .unwrap();
    assert!(w.iter().all(|&v| v == 0.25));
}

#[test]
fn fan_scaled_statistics() {
    // The layer is ROWS inputs x COLS outputs: fan_in = ROWS, fan_out = COLS.
    let (fan_in, fan_out) = (ROWS as f64, COLS as f64);
    let mut rng = StdRng::seed_from_u64(17);
    let he = (6.0 / fan_in).sqrt();
    check_uniform(
        &HeUniform.weights(ROWS, COLS, &mut rng).unwrap(),
        -he,
        he,
        "HeUniform",
    );
    let glorot = (6.0 / (fan_in + fan_out)).sqrt();
    check_uniform(
        &GlorotUniform.weights(ROWS, COLS, &mut rng).unwrap(),
        -glorot,
        glorot,
        "GlorotUniform",
    );
    check_normal(
        &HeNormal.weights(ROWS, COLS, &mut rng).unwrap(),
        0.0,
        (2.0 / fan_in).sqrt(),
        "HeNormal",
    );
    let std = (2.0 / (fan_in + fan_out)).sqrt();
    check_normal(
        &GlorotNormal.weights(ROWS, COLS, &mut rng).unwrap(),
        0.0,
        std,
        "GlorotNormal",
    );
}

/// The same initialiser for both float types.
type Both = (Box<dyn Initializer<f64>>, Box<dyn Initializer<f32>>);

fn both<I: Initializer<f64> + Initializer<f32> + Copy + 'static>(init: I) -> Both {
    (Box::new(init), Box::new(init))
}

#[test]
fn f32_draws_are_the_f64_draws_rounded() {
    let inits = [
        both(HeUniform),
        both(HeNormal),
        both(GlorotNormal),
        both(BookUniform),
        both(Uniform::new(-0.5, 0.25).unwrap()),
        both(Normal::new(3.0, 0.1).unwrap()),
    ];
    for (i64, i32) in inits {
        let w64 = i64.weights(5, 7, &mut NumpyRng::new(3)).unwrap();
        let w32 = i32.weights(5, 7, &mut NumpyRng::new(3)).unwrap();
        assert_eq!(w32, w64.map(|v| v as f32), "{i64:?}");
    }
}

// ----- seeding, shapes, bias ----------------------------------------------------------------------

/// Every initialiser, and whether it draws from the generator.
fn all() -> Vec<(Box<dyn Initializer<f64>>, bool)> {
    vec![
        (Box::new(Zeros), false),
        (Box::new(Constant(0.5)), false),
        (Box::new(Uniform::new(-1.0, 3.0).unwrap()), true),
        (Box::new(Normal::new(1.0, 0.5).unwrap()), true),
        (Box::new(BookUniform), true),
        (Box::new(GlorotUniform), true),
        (Box::new(GlorotNormal), true),
        (Box::new(HeUniform), true),
        (Box::new(HeNormal), true),
    ]
}

#[test]
fn one_seed_reproduces_every_draw() {
    for (init, random) in all() {
        let a = init.weights(6, 5, &mut NumpyRng::new(7)).unwrap();
        let b = init.weights(6, 5, &mut NumpyRng::new(7)).unwrap();
        assert_eq!(a, b, "{init:?} with NumpyRng");
        let c = init.weights(6, 5, &mut StdRng::seed_from_u64(7)).unwrap();
        let d = init.weights(6, 5, &mut StdRng::seed_from_u64(7)).unwrap();
        assert_eq!(c, d, "{init:?} with StdRng");
        let e = init.weights(6, 5, &mut NumpyRng::new(8)).unwrap();
        assert_eq!(
            a != e,
            random,
            "{init:?}: another seed differs exactly when it is random"
        );
    }
}

#[test]
fn shapes_and_zero_bias() {
    for (init, _) in all() {
        let mut rng = NumpyRng::new(1);
        assert_eq!(
            init.weights(3, 7, &mut rng).unwrap().shape(),
            (3, 7),
            "{init:?}"
        );
        assert_eq!(
            init.bias(7, &mut rng).unwrap(),
            Matrix::zeros(1, 7),
            "{init:?}"
        );
        // Degenerate layers do not panic.
        assert_eq!(
            init.weights(0, 4, &mut rng).unwrap().shape(),
            (0, 4),
            "{init:?}"
        );
        assert_eq!(
            init.weights(4, 0, &mut rng).unwrap().shape(),
            (4, 0),
            "{init:?}"
        );
    }
    let mut rng = NumpyRng::new(1);
    assert!(
        Zeros
            .weights(2, 3, &mut rng)
            .unwrap()
            .iter()
            .all(|&v: &f64| v == 0.0)
    );
    assert!(
        Constant(0.5)
            .weights(2, 3, &mut rng)
            .unwrap()
            .iter()
            .all(|&v: &f64| v == 0.5)
    );
}

#[test]
fn a_model_uses_the_initialiser_and_its_seed() {
    let build = |seed| {
        Sequential::<f64>::builder(64)
            .rng(NumpyRng::new(seed))
            .init(Uniform::new(-0.1, 0.1).unwrap())
            .dense(4, Relu)
            .build()
            .unwrap()
    };
    let model = build(42);
    // The first layer's weights are np.random.seed(42); np.random.uniform(-.1, .1, (64, 4)).
    let w = model.weights(0).unwrap();
    assert_eq!(w[(0, 0)], UNIFORM_42[0][0]);
    assert_eq!(w[(63, 3)], UNIFORM_42[2][3]);
    assert_eq!(model.weights(0).unwrap(), build(42).weights(0).unwrap());
    assert_ne!(model.weights(0).unwrap(), build(43).weights(0).unwrap());
}

// ----- validation -------------------------------------------------------------------------------

#[test]
fn invalid_parameters_are_rejected() {
    let invalid = |r: Result<()>| matches!(r, Err(Error::InvalidParameter { .. }));
    for (lo, hi) in [
        (1.0, 1.0),
        (1.0, 0.0),
        (f64::NAN, 1.0),
        (0.0, f64::NAN),
        (f64::NEG_INFINITY, 0.0),
        (0.0, f64::INFINITY),
        (-1e308, 1e308), // hi - lo overflows
    ] {
        assert!(
            invalid(Uniform::new(lo, hi).map(|_| ())),
            "Uniform({lo}, {hi})"
        );
    }
    for (mean, std) in [
        (0.0, -1.0),
        (0.0, f64::NAN),
        (0.0, f64::INFINITY),
        (f64::NAN, 1.0),
        (f64::INFINITY, 1.0),
    ] {
        assert!(
            invalid(Normal::new(mean, std).map(|_| ())),
            "Normal({mean}, {std})"
        );
    }
    let err = Normal::new(0.0, -1.0).unwrap_err();
    assert!(
        matches!(err, Error::InvalidParameter { name: "standard deviation", value, .. } if value == -1.0)
    );
    assert!(Uniform::new(-1e-300, 1e-300).is_ok());
}
