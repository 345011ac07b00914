//! The gradient checker as a user meets it: kinks (ReLU at 0) told apart from wrong gradients,
//! and the `strategies` module property-testing a layer written outside the crate.

use backprop::gradcheck::{self, GradCheck, KinkPolicy};
use backprop::layer::{Param, ParamMut};
use backprop::prelude::*;
use backprop::strategies::{self, Targets};
use nalgebra::DMatrix;
use proptest::prelude::*;

/// Multiplies every input by one learned scalar; `wrong` doubles both of its gradients, as a
/// forgotten factor in a hand-written backward pass would.
#[derive(Debug, Clone)]
struct Scale {
    width: usize,
    s: DMatrix<f64>,
    grad: DMatrix<f64>,
    wrong: bool,
}

impl Scale {
    fn new(width: usize, s: f64, wrong: bool) -> Self {
        Scale {
            width,
            s: DMatrix::from_element(1, 1, s),
            grad: DMatrix::zeros(1, 1),
            wrong,
        }
    }

    fn factor(&self) -> f64 {
        if self.wrong { 2.0 } else { 1.0 }
    }
}

impl Layer<f64> for Scale {
    fn name(&self) -> &str {
        "Scale"
    }
    fn input_size(&self) -> usize {
        self.width
    }
    fn output_size(&self) -> usize {
        self.width
    }
    fn forward(&self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
        output.copy_from(&(input * self.s[(0, 0)]));
    }
    fn backward(
        &mut self,
        input: MatrixView<'_, f64>,
        delta: MatrixView<'_, f64>,
        grad_input: Option<MatrixViewMut<'_, f64>>,
    ) {
        self.grad[(0, 0)] = self.factor() * input.dot(&delta);
        if let Some(mut g) = grad_input {
            g.copy_from(&(delta * (self.factor() * self.s[(0, 0)])));
        }
    }
    fn param(&self, k: usize) -> Option<Param<'_, f64>> {
        (k == 0).then_some(Param {
            name: "s",
            value: &self.s,
            grad: &self.grad,
        })
    }
    fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, f64>> {
        (k == 0).then_some(ParamMut {
            name: "s",
            value: &mut self.s,
            grad: &mut self.grad,
        })
    }
}

/// Two inputs into two ReLU units; for the input `[1, 1]` the first unit's pre-activation is
/// `1 * 0.5 + 1 * -0.5 = 0`, exactly on the kink. The second unit's is `0.3 + 0.2 = 0.5`.
fn relu_at_zero<T: Float>() -> Dense<T> {
    let weights_0_1 = DMatrix::from_row_slice(2, 2, &[0.5, 0.3, -0.5, 0.2]).map(T::of);
    Dense::from_weights(weights_0_1, Some(DMatrix::zeros(1, 2)))
        .unwrap()
        .with_activation(Relu)
}

/// `relu_at_zero`, what `middle` adds, and one linear output unit.
fn kink_model<T: Float>(
    middle: impl FnOnce(SequentialBuilder<T>) -> SequentialBuilder<T>,
) -> Sequential<T> {
    let weights_1_2 = DMatrix::from_row_slice(2, 1, &[0.7, -0.4]).map(T::of);
    middle(Sequential::builder(2).add(relu_at_zero()))
        .add(Dense::from_weights(weights_1_2, None).unwrap())
        .build()
        .unwrap()
}

fn kink_batch<T: Float>() -> (DMatrix<T>, DMatrix<T>) {
    (
        DMatrix::from_row_slice(1, 2, &[1.0, 1.0]).map(T::of),
        DMatrix::from_element(1, 1, T::of(1.0)),
    )
}

fn with(policy: KinkPolicy) -> gradcheck::KinkCheck {
    GradCheck::for_type::<f64>().kinks(policy)
}

#[test]
fn relu_at_zero_fails_the_plain_check_and_passes_with_skip() {
    let (x, y) = kink_batch::<f64>();
    let mut model = kink_model::<f64>(|b| b);
    let plain = gradcheck::check_model(&mut model, &x, &y).unwrap();
    // relu'(0) = 0 against a central difference of half the slope (-0.42): relative error 1.
    let weights = &plain.entries[0];
    assert_eq!((weights.layer, weights.name.as_str()), (Some(0), "weights"));
    assert!(weights.max_rel > 0.99, "{plain}");
    assert_eq!((plain.skipped, plain.kinks.len()), (0, 0));

    let skip = with(KinkPolicy::Skip).model(&mut model, &x, &y).unwrap();
    assert!(skip.max_rel() < 1e-7, "{skip}");
    // Weights (0, 0) and (1, 0) and the bias of unit 0 sit on the kink; Skip only counts them.
    assert_eq!((skip.skipped, skip.kinks.len()), (3, 0));
    assert_eq!(skip.entries.len(), plain.entries.len());
}

#[test]
fn report_lists_the_entries_on_the_kink_apart_from_the_errors() {
    let (x, y) = kink_batch::<f64>();
    let mut model = kink_model::<f64>(|b| b);
    let report = with(KinkPolicy::Report).model(&mut model, &x, &y).unwrap();
    assert!(report.max_rel() < 1e-7, "{report}");
    let at: Vec<_> = (report.kinks.iter())
        .map(|k| (k.layer, k.name.as_str(), k.at))
        .collect();
    assert_eq!(
        at,
        [
            (Some(0), "weights", (0, 0)),
            (Some(0), "weights", (1, 0)),
            (Some(0), "bias", (0, 0)),
        ]
    );
    assert_eq!(report.skipped, 3);
    // The one-sided slopes: 0 on the off side; on the on side 0.7 * (layer_2 - goal) times the
    // input or bias's 1, where layer_2 = 0 * 0.7 + 0.5 * -0.4 (by hand: -0.84).
    let dl = 0.5 * -0.4 - 1.0;
    for k in &report.kinks {
        assert_eq!(k.analytic, 0.0);
        assert!(k.slopes.0.abs() < 1e-12, "{k:?}");
        assert!((k.slopes.1 - 0.7 * dl).abs() < 1e-4, "{k:?}");
        assert!((k.numeric - k.slopes.1 / 2.0).abs() < 1e-4, "{k:?}");
    }
    let text = report.to_string();
    assert!(text.contains("3 entries near a kink left out"), "{text}");
    assert!(text.contains("kink: layer 0 weights at (1, 0)"), "{text}");
}

#[test]
fn f32_models_skip_the_kink_too() {
    let (x, y) = kink_batch::<f32>();
    let mut model = kink_model::<f32>(|b| b);
    let plain = gradcheck::check_model(&mut model, &x, &y).unwrap();
    assert!(plain.max_rel() > 0.99, "{plain}");
    let report = (GradCheck::for_type::<f32>().kinks(KinkPolicy::Report))
        .model(&mut model, &x, &y)
        .unwrap();
    assert!(report.max_rel() < 1e-3, "{report}");
    assert_eq!(report.kinks.len(), 3, "{report}");
}

#[test]
fn compare_is_the_plain_check() {
    let (x, y) = kink_batch::<f64>();
    let mut model = kink_model::<f64>(|b| b);
    let plain = gradcheck::check_model(&mut model, &x, &y).unwrap();
    let compare = with(KinkPolicy::Compare).model(&mut model, &x, &y).unwrap();
    assert_eq!(plain, compare);
}

#[test]
fn a_wrong_backward_still_fails_with_skip() {
    let (x, y) = kink_batch::<f64>();
    let mut right = kink_model(|b| b.add(Scale::new(2, 1.3, false)));
    let report = with(KinkPolicy::Skip).model(&mut right, &x, &y).unwrap();
    assert!(report.max_rel() < 1e-7, "{report}");

    let mut wrong = kink_model(|b| b.add(Scale::new(2, 1.3, true)));
    let report = with(KinkPolicy::Skip).model(&mut wrong, &x, &y).unwrap();
    // The doubled gradient of `s`, and the doubled delta it sends to the unit off the kink.
    assert!(report.max_rel() > 0.3, "{report}");
    let failing: Vec<_> = (report.entries.iter())
        .filter(|e| e.max_rel > 1e-3)
        .map(|e| (e.layer, e.name.as_str()))
        .collect();
    assert_eq!(
        failing,
        [(Some(0), "weights"), (Some(0), "bias"), (Some(1), "s")]
    );
}

/// `y = k * x^2` element-wise: smooth, but with a curvature of `2k` that widens the gap between
/// the one-sided slopes where the gradient is 0; `wrong` adds 0.05 to the input gradient.
#[derive(Debug, Clone)]
struct Quadratic {
    k: f64,
    wrong: bool,
}

impl Layer<f64> for Quadratic {
    fn name(&self) -> &str {
        "Quadratic"
    }
    fn input_size(&self) -> usize {
        2
    }
    fn output_size(&self) -> usize {
        2
    }
    fn forward(&self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
        output.copy_from(&input.map(|x| self.k * x * x));
    }
    fn backward(
        &mut self,
        input: MatrixView<'_, f64>,
        delta: MatrixView<'_, f64>,
        grad_input: Option<MatrixViewMut<'_, f64>>,
    ) {
        let off = if self.wrong { 0.05 } else { 0.0 };
        if let Some(mut g) = grad_input {
            g.copy_from(&delta.zip_map(&input, |d, x| d * 2.0 * self.k * x + off));
        }
    }
}

#[test]
fn strong_curvature_does_not_hide_a_wrong_gradient() {
    // At x = 0 the gradient is 0 and the one-sided slopes differ by 2k * h = 0.02.
    let input = DMatrix::from_row_slice(1, 2, &[0.0, 0.4]);
    let upstream = DMatrix::from_element(1, 2, 1.0);
    let right = Quadratic {
        k: 1000.0,
        wrong: false,
    };
    let report = (with(KinkPolicy::Skip))
        .layer(&mut right.clone(), &input, &upstream)
        .unwrap();
    assert!(report.max_rel() < 1e-7, "{report}");
    let mut wrong = Quadratic {
        wrong: true,
        ..right
    };
    let report = (with(KinkPolicy::Skip))
        .layer(&mut wrong, &input, &upstream)
        .unwrap();
    assert_eq!(report.skipped, 0, "{report}");
    assert!(report.max_rel() > 0.9, "{report}");
}

#[test]
fn the_layer_checker_skips_the_kink_in_weights_bias_and_input() {
    let input = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 0.4, -0.9]);
    let upstream = DMatrix::from_row_slice(2, 2, &[1.0, -0.5, 0.3, 2.0]);
    let plain = gradcheck::check_layer(&mut relu_at_zero::<f64>(), &input, &upstream).unwrap();
    assert!(plain.max_rel() > 0.4, "{plain}");
    let report = (with(KinkPolicy::Report))
        .layer(&mut relu_at_zero::<f64>(), &input, &upstream)
        .unwrap();
    assert!(report.max_rel() < 1e-7, "{report}");
    // Row 0 reaches unit 0 at the kink: through both weights into it, its bias, and both inputs
    // (each input of row 0 feeds unit 0 with a non-zero weight).
    let at: Vec<_> = (report.kinks.iter())
        .map(|k| (k.name.as_str(), k.at))
        .collect();
    assert_eq!(
        at,
        [
            ("weights", (0, 0)),
            ("weights", (1, 0)),
            ("bias", (0, 0)),
            ("input", (0, 0)),
            ("input", (0, 1)),
        ]
    );
}

#[test]
fn the_activation_checker_skips_relu_at_zero_only() {
    let z = DMatrix::from_row_slice(2, 3, &[-0.5, 0.0, 0.7, 0.0, 1.5, -2.0]);
    let upstream = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, -1.0, 0.5, 1.0, 1.0]);
    assert!(
        gradcheck::check_activation(&Relu, &z, &upstream)
            .unwrap()
            .max_rel()
            > 0.4
    );
    let report = (with(KinkPolicy::Report))
        .activation(&Relu, &z, &upstream)
        .unwrap();
    assert!(report.max_rel() < 1e-7, "{report}");
    // Column by column, as the checker walks.
    let at: Vec<_> = report.kinks.iter().map(|k| k.at).collect();
    assert_eq!(at, [(1, 0), (0, 1)]);
    // Smooth activations have nothing to skip, even where they curve most.
    let z = DMatrix::from_row_slice(1, 4, &[-1.0, -0.3, 0.0, 0.6]);
    let upstream = DMatrix::from_element(1, 4, 1.0);
    for f in [&Sigmoid as &dyn Activation<f64>, &Tanh, &Softmax] {
        let report = with(KinkPolicy::Report)
            .activation(f, &z, &upstream)
            .unwrap();
        assert_eq!(report.skipped, 0, "{}: {report}", f.name());
        assert!(report.max_rel() < 1e-7, "{}: {report}", f.name());
    }
}

#[test]
fn strategies_reject_ranges_with_nothing_in_them() {
    let bad = [
        strategies::matrix::<f64>(2, 2, 1.0..1.0).err(),
        strategies::matrix::<f64>(2, 2, f64::NAN..1.0).err(),
        strategies::inputs_and_targets::<f64>(0..=3, 2, Targets::Real(1)).err(),
        strategies::inputs_and_targets::<f64>(1..=3, 0, Targets::Real(1)).err(),
        strategies::inputs_and_targets::<f64>(1..=3, 2, Targets::OneHot(1)).err(),
        strategies::model::<f64>(2, 0..=2, 0..=3, Targets::Real(1)).err(),
        #[allow(clippy::reversed_empty_ranges)] // the mistake under test
        strategies::model::<f64>(2, 3..=2, 1..=3, Targets::Real(1)).err(),
        strategies::model::<f64>(2, 0..=2, 1..=3, Targets::Unit(0)).err(),
    ];
    for err in bad {
        assert!(
            matches!(err, Some(Error::InvalidParameter { .. })),
            "{err:?}"
        );
    }
    assert!(matches!(
        strategies::matrix::<f64>(usize::MAX, 2, 0.0..1.0).err(),
        Some(Error::TooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A user's layer with its backward right passes on random parameters and batches; with a
    /// forgotten factor it fails on every one of them.
    #[test]
    fn a_user_layer_is_property_tested_in_a_few_lines(
        s in strategies::matrix::<f64>(1, 1, 0.2..2.0).unwrap(),
        input in strategies::matrix::<f64>(3, 4, -1.0..1.0).unwrap(),
        upstream in strategies::matrix::<f64>(3, 4, -1.0..1.0).unwrap(),
    ) {
        let mut right = Scale::new(4, s[(0, 0)], false);
        let report = gradcheck::check_layer(&mut right, &input, &upstream)?;
        prop_assert!(report.max_rel() < 1e-7, "{}", report);
        let mut wrong = Scale::new(4, s[(0, 0)], true);
        let report = gradcheck::check_layer(&mut wrong, &input, &upstream)?;
        prop_assert!(report.entries.iter().all(|e| e.max_rel > 0.3), "{}", report);
    }

    /// Random models and batches from the strategies, for every kind of targets: gradients
    /// match once kinks are skipped, and every parameter is checked.
    #[test]
    fn random_models_pass_with_kinks_skipped((t, model, (x, y)) in random_case::<f64>()) {
        // 1e-5, not 1e-6: an Elu unit at exactly 0 (a zero bias after ReLU units that are all
        // off) has no kink, but its second derivative jumps there, so the central difference is
        // off by about step / 4, not step^2 (a relative 2.5e-6 seen after the chain rule).
        check_random(t, model, &x, &y, 1e-5)?;
    }

}

type Case<T> = (Targets, Sequential<T>, (DMatrix<T>, DMatrix<T>));

fn random_case<T: Float>() -> impl Strategy<Value = Case<T>> {
    let targets = prop_oneof![
        Just(Targets::Real(2)),
        Just(Targets::Unit(3)),
        Just(Targets::OneHot(3)),
        Just(Targets::Classes(4)),
    ];
    targets.prop_flat_map(|t| {
        (
            Just(t),
            strategies::model::<T>(3, 0..=2, 1..=5, t).unwrap(),
            strategies::inputs_and_targets::<T>(1..=6, 3, t).unwrap(),
        )
    })
}

fn check_random<T: Float>(
    targets: Targets,
    mut model: Sequential<T>,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
    tolerance: f64,
) -> std::result::Result<(), TestCaseError> {
    prop_assert_eq!(model.output_size(), targets.outputs());
    prop_assert_eq!(y.ncols(), targets.width());
    let check = GradCheck::for_type::<T>().kinks(KinkPolicy::Skip);
    let report = check.model(&mut model, x, y)?;
    prop_assert!(report.max_rel() < tolerance, "{}", report);
    prop_assert_eq!(report.entries.len(), model.parameters().count());
    Ok(())
}
