//! Every gradient the crate computes, checked against central finite differences.
//!
//! Random architectures (1 to 4 dense layers, widths 1 to 8, with and without bias), every
//! activation, every loss paired with an output it accepts, random inputs, targets and batch sizes.

use backprop::gradcheck::{self, GradCheck};
use backprop::prelude::*;
use nalgebra::DMatrix;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Act {
    Identity,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
}

#[derive(Debug, Clone, Copy)]
enum Out {
    /// SquaredError after any activation.
    Squared(Act),
    /// Mse after any activation.
    Mse(Act),
    /// Sigmoid output with binary cross-entropy (fused).
    SigmoidBce,
    /// Softmax output with categorical cross-entropy on distributions (fused).
    SoftmaxCce,
    /// Softmax output with categorical cross-entropy on class indices (fused).
    SoftmaxSparseCce,
    /// Sigmoid output with Mse: a probability output without the fused delta.
    SigmoidMse,
}

fn act_strategy() -> impl Strategy<Value = Act> {
    prop_oneof![
        Just(Act::Identity),
        Just(Act::Relu),
        Just(Act::Sigmoid),
        Just(Act::Tanh),
        Just(Act::Softmax),
    ]
}

fn out_strategy() -> impl Strategy<Value = Out> {
    prop_oneof![
        act_strategy().prop_map(Out::Squared),
        act_strategy().prop_map(Out::Mse),
        Just(Out::SigmoidBce),
        Just(Out::SoftmaxCce),
        Just(Out::SoftmaxSparseCce),
        Just(Out::SigmoidMse),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    inputs: usize,
    hidden: Vec<(usize, Act, bool)>,
    out_width: usize,
    out_bias: bool,
    out: Out,
    rows: usize,
    seed: u32,
    x: Vec<f64>,
    y: Vec<f64>,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        1usize..=8,
        prop::collection::vec((1usize..=8, act_strategy(), any::<bool>()), 0..=3),
        1usize..=8,
        any::<bool>(),
        out_strategy(),
        1usize..=8,
        any::<u32>(),
    )
        .prop_flat_map(|(inputs, hidden, out_width, out_bias, out, rows, seed)| {
            let x = prop::collection::vec(-1.0f64..1.0, rows * inputs);
            let y = prop::collection::vec(0.0f64..1.0, rows * out_width.max(2));
            (
                Just((inputs, hidden, out_width, out_bias, out, rows, seed)),
                x,
                y,
            )
        })
        .prop_map(
            |((inputs, hidden, out_width, out_bias, out, rows, seed), x, y)| Case {
                inputs,
                hidden,
                out_width,
                out_bias,
                out,
                rows,
                seed,
                x,
                y,
            },
        )
}

fn with_act<T: Float>(b: SequentialBuilder<T>, width: usize, act: Act) -> SequentialBuilder<T> {
    match act {
        Act::Identity => b.dense(width, Identity),
        Act::Relu => b.dense(width, Relu),
        Act::Sigmoid => b.dense(width, Sigmoid),
        Act::Tanh => b.dense(width, Tanh),
        Act::Softmax => b.dense(width, Softmax),
    }
}

/// Builds the model and its data for a case.
fn build<T: Float>(c: &Case) -> (Sequential<T>, DMatrix<T>, DMatrix<T>) {
    let mut b = Sequential::<T>::builder(c.inputs).seed(c.seed);
    for &(w, act, bias) in &c.hidden {
        b = with_act(b.bias(bias), w, act);
    }
    b = b.bias(c.out_bias);
    let k = c.out_width;
    let x = DMatrix::from_row_slice(c.rows, c.inputs, &c.x).map(T::of);
    let unit = |r: usize, j: usize| c.y[r * k.max(2) + j];
    let (b, y) = match c.out {
        Out::Squared(a) => (
            with_act(b, k, a).loss(SquaredError),
            DMatrix::from_fn(c.rows, k, |r, j| T::of(2.0 * unit(r, j) - 1.0)),
        ),
        Out::Mse(a) => (
            with_act(b, k, a).loss(Mse),
            DMatrix::from_fn(c.rows, k, |r, j| T::of(2.0 * unit(r, j) - 1.0)),
        ),
        Out::SigmoidMse => (
            b.dense(k, Sigmoid).loss(Mse),
            DMatrix::from_fn(c.rows, k, |r, j| T::of(unit(r, j))),
        ),
        Out::SigmoidBce => (
            b.dense(k, Sigmoid).loss(BinaryCrossEntropy),
            DMatrix::from_fn(c.rows, k, |r, j| T::of(unit(r, j))),
        ),
        Out::SoftmaxCce => {
            let k = k.max(2);
            let mut y = DMatrix::from_fn(c.rows, k, |r, j| unit(r, j) + 0.01);
            for mut row in y.row_iter_mut() {
                let s = row.sum();
                row /= s;
            }
            (
                b.dense(k, Softmax).loss(CategoricalCrossEntropy),
                y.map(T::of),
            )
        }
        Out::SoftmaxSparseCce => {
            let k = k.max(2);
            let y = DMatrix::from_fn(c.rows, 1, |r, _| {
                T::of(((unit(r, 0) * k as f64) as usize).min(k - 1) as f64)
            });
            (b.dense(k, Softmax).loss(CategoricalCrossEntropy), y)
        }
    };
    (b.build().expect("valid architecture"), x, y)
}

/// Smallest |pre-activation| over every ReLU layer: finite differences are only valid away from
/// ReLU's kink at 0.
fn relu_margin(c: &Case, model: &mut Sequential<f64>, x: &DMatrix<f64>) -> f64 {
    model.forward(x).unwrap();
    let mut margin = f64::INFINITY;
    let mut acts: Vec<bool> = c.hidden.iter().map(|h| matches!(h.1, Act::Relu)).collect();
    acts.push(matches!(
        c.out,
        Out::Squared(Act::Relu) | Out::Mse(Act::Relu)
    ));
    for (i, relu) in acts.into_iter().enumerate() {
        if !relu {
            continue;
        }
        let input = model.layer_output(i).unwrap().clone_owned();
        let mut z = input * model.weights(i).unwrap();
        if let Ok(b) = model.param(i, "bias") {
            for mut row in z.row_iter_mut() {
                row += b;
            }
        }
        margin = z.iter().fold(margin, |m, v| m.min(v.abs()));
    }
    margin
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn model_gradients_match_finite_differences_f64(c in case_strategy()) {
        let (mut model, x, y) = build::<f64>(&c);
        // Finite differences with step 1e-5 must not cross a ReLU kink.
        prop_assume!(relu_margin(&c, &mut model, &x) > 1e-3);
        let before = model.params().into_iter().map(|(_, _, m)| m.clone()).collect::<Vec<_>>();
        let report = gradcheck::check_model(&mut model, &x, &y).unwrap();
        prop_assert!(report.max_rel() <= 1e-6, "{:?}\n{}", c.out, report);
        // The checker restores every weight exactly.
        let after = model.params().into_iter().map(|(_, _, m)| m.clone()).collect::<Vec<_>>();
        prop_assert_eq!(before, after);
    }

    #[test]
    fn model_gradients_match_finite_differences_f32(c in case_strategy()) {
        let (mut model64, x64, _) = build::<f64>(&c);
        prop_assume!(relu_margin(&c, &mut model64, &x64) > 5e-2);
        let (mut model, x, y) = build::<f32>(&c);
        let report = gradcheck::check_model(&mut model, &x, &y).unwrap();
        prop_assert!(report.max_rel() <= 2e-2, "{:?}\n{}", c.out, report);
    }

    #[test]
    fn losses_on_their_own_match_finite_differences(
        rows in 1usize..=8,
        k in 2usize..=6,
        p in prop::collection::vec(0.05f64..0.95, 48),
        t in prop::collection::vec(0.0f64..1.0, 48),
    ) {
        let pred = DMatrix::from_fn(rows, k, |r, j| p[r * k + j]);
        let target = DMatrix::from_fn(rows, k, |r, j| t[r * k + j]);
        let check = GradCheck::for_type::<f64>();
        // The central difference is off by h^2/6 times the third derivative, which for binary
        // cross-entropy is about 2/(n p^2) where the target is near p: up to 6.7e-9 at p = 0.05,
        // n = 2, while the gradient (p - y)/(n p (1 - p)) can be near 0. Against a floor of 1e-2
        // instead of 1e-3 that bound stays below 1e-6 (6.8e-7) for every p and target drawn here.
        let floored = GradCheck { floor: 1e-2, ..check };
        for loss in [&SquaredError as &dyn Loss<f64>, &Mse, &BinaryCrossEntropy] {
            let report = floored.loss(loss, &pred, &target).unwrap();
            prop_assert!(report.max_rel() <= 1e-6, "{}: {}", loss.name(), report);
        }
        // Categorical cross-entropy, unfused, on probabilities and on distributions.
        let mut probs = pred.clone();
        let mut dist = target.map(|v| v + 0.01);
        for mut row in probs.row_iter_mut() { let s = row.sum(); row /= s; }
        for mut row in dist.row_iter_mut() { let s = row.sum(); row /= s; }
        let report = check.loss(&CategoricalCrossEntropy, &probs, &dist).unwrap();
        prop_assert!(report.max_rel() <= 1e-6, "{}", report);
    }

    #[test]
    fn activations_match_finite_differences(
        rows in 1usize..=4,
        k in 1usize..=6,
        z in prop::collection::vec(-3.0f64..3.0, 24),
        g in prop::collection::vec(-1.0f64..1.0, 24),
    ) {
        let z = DMatrix::from_fn(rows, k, |r, j| z[r * k + j]);
        let g = DMatrix::from_fn(rows, k, |r, j| g[r * k + j]);
        prop_assume!(z.iter().all(|v| v.abs() > 1e-3));
        for f in [&Identity as &dyn Activation<f64>, &Relu, &Sigmoid, &Tanh, &Softmax] {
            let report = gradcheck::check_activation(f, &z, &g).unwrap();
            prop_assert!(report.max_rel() <= 1e-6, "{}: {}", f.name(), report);
        }
    }

    #[test]
    fn dense_layer_and_input_delta_match_finite_differences(
        rows in 1usize..=6,
        n_in in 1usize..=6,
        n_out in 1usize..=6,
        bias in any::<bool>(),
        w in prop::collection::vec(-1.0f64..1.0, 36),
        x in prop::collection::vec(-1.0f64..1.0, 36),
        g in prop::collection::vec(-1.0f64..1.0, 36),
    ) {
        let weights = DMatrix::from_fn(n_in, n_out, |r, j| w[r * n_out + j]);
        let b = bias.then(|| DMatrix::from_fn(1, n_out, |_, j| w[35 - j] * 0.5));
        let input = DMatrix::from_fn(rows, n_in, |r, j| x[r * n_in + j]);
        let upstream = DMatrix::from_fn(rows, n_out, |r, j| g[r * n_out + j]);
        let mut layer = Dense::from_weights(weights, b).unwrap().with_activation(Tanh);
        let report = gradcheck::check_layer(&mut layer, &input, &upstream).unwrap();
        prop_assert!(report.max_rel() <= 1e-6, "{}", report);
        prop_assert_eq!(report.entries.len(), if bias { 3 } else { 2 });
    }
}

/// A wrong gradient must be caught: the checker is not a check that cannot fail.
#[test]
fn the_checker_catches_a_wrong_gradient() {
    #[derive(Debug, Clone)]
    struct WrongTanh;
    impl Activation<f64> for WrongTanh {
        fn name(&self) -> &'static str {
            "WrongTanh"
        }
        fn forward(&self, mut z: MatrixViewMut<'_, f64>) {
            z.apply(|x| *x = x.tanh());
        }
        fn backward(&self, output: MatrixView<'_, f64>, mut delta: MatrixViewMut<'_, f64>) {
            // Off by the missing square: 1 - a instead of 1 - a^2.
            delta.zip_apply(&output, |d, a| *d *= 1.0 - a);
        }
    }
    let z = DMatrix::from_row_slice(1, 3, &[0.5, -0.3, 1.2]);
    let g = DMatrix::from_element(1, 3, 1.0);
    let report = gradcheck::check_activation(&WrongTanh, &z, &g).unwrap();
    assert!(report.max_rel() > 0.1, "{report}");
    let report = gradcheck::check_activation(&Tanh, &z, &g).unwrap();
    assert!(report.max_rel() < 1e-8, "{report}");
}

/// Saturated outputs: the fused sigmoid + BCE and softmax + CCE deltas stay finite and exact,
/// where the unfused chain would divide 0 by 0.
#[test]
fn fused_output_deltas_are_finite_when_saturated() {
    let mut model = Sequential::<f64>::builder(1)
        .add(
            Dense::from_weights(DMatrix::from_element(1, 1, 1e4), None)
                .unwrap()
                .with_activation(Sigmoid),
        )
        .loss(BinaryCrossEntropy)
        .build()
        .unwrap();
    model.forward(&DMatrix::from_element(1, 1, 1.0)).unwrap();
    model.backward(&DMatrix::from_element(1, 1, 0.0)).unwrap();
    // p = sigmoid(1e4) = 1 exactly; delta = p - goal = 1.
    assert_eq!(model.delta(0).unwrap()[(0, 0)], 1.0);

    let w = DMatrix::from_row_slice(1, 3, &[1e4, -1e4, 0.0]);
    let mut model = Sequential::<f32>::builder(1)
        .add(
            Dense::from_weights(w.map(|v| v as f32), None)
                .unwrap()
                .with_activation(Softmax),
        )
        .loss(CategoricalCrossEntropy)
        .build()
        .unwrap();
    model.forward(&DMatrix::from_element(1, 1, 1.0)).unwrap();
    let loss = model.backward(&DMatrix::from_element(1, 1, 1.0)).unwrap(); // class 1
    assert!(loss.is_finite());
    let delta = model.delta(0).unwrap();
    assert_eq!(
        (delta[(0, 0)], delta[(0, 1)], delta[(0, 2)]),
        (1.0, -1.0, 0.0)
    );
}

proptest! {
    /// A training step asks the loss for its value and gradient in one call; the built-ins' one
    /// pass gives the bits of `loss` and `gradient` called apart.
    #[test]
    fn one_pass_losses_give_the_bits_of_their_two_methods(
        rows in 1usize..=8,
        k in 1usize..=6,
        p in prop::collection::vec(0.05f64..0.95, 48),
        t in prop::collection::vec(0.0f64..1.0, 48),
    ) {
        let pred = DMatrix::from_fn(rows, k, |r, j| p[r * k + j]);
        let target = DMatrix::from_fn(rows, k, |r, j| t[r * k + j]);
        for loss in [&SquaredError as &dyn Loss<f64>, &Mse, &BinaryCrossEntropy] {
            let mut apart = DMatrix::zeros(rows, k);
            loss.gradient(pred.as_view(), target.as_view(), apart.as_view_mut());
            let mut both = DMatrix::from_element(rows, k, f64::NAN);
            let value = loss.loss_and_gradient(pred.as_view(), target.as_view(), both.as_view_mut());
            prop_assert_eq!(value.to_bits(), loss.loss(pred.as_view(), target.as_view()).to_bits());
            prop_assert!(apart.iter().zip(both.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}

/// Squared error whose one-pass override forgets the factor ½ in its value and the sign of its
/// gradient: `check_loss` reports both, although `loss` and `gradient` are right.
#[derive(Debug, Clone)]
struct BrokenOnePass;

impl Loss<f64> for BrokenOnePass {
    fn name(&self) -> &'static str {
        "BrokenOnePass"
    }
    fn loss(&self, pred: MatrixView<'_, f64>, target: MatrixView<'_, f64>) -> f64 {
        Loss::<f64>::loss(&SquaredError, pred, target)
    }
    fn gradient(
        &self,
        pred: MatrixView<'_, f64>,
        target: MatrixView<'_, f64>,
        grad: MatrixViewMut<'_, f64>,
    ) {
        SquaredError.gradient(pred, target, grad)
    }
    fn loss_and_gradient(
        &self,
        pred: MatrixView<'_, f64>,
        target: MatrixView<'_, f64>,
        mut grad: MatrixViewMut<'_, f64>,
    ) -> f64 {
        let value = SquaredError.loss_and_gradient(pred, target, grad.as_view_mut());
        grad.neg_mut();
        2.0 * value
    }
}

#[test]
fn a_one_pass_override_that_disagrees_with_the_two_methods_is_reported() {
    let pred = DMatrix::from_row_slice(2, 2, &[0.2, 0.7, 0.4, 0.1]);
    let target = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]);
    let report = gradcheck::check_loss(&BrokenOnePass, &pred, &target).unwrap();
    let rel = |name: &str| {
        report
            .entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.max_rel)
            .unwrap()
    };
    assert!(rel("pred") < 1e-7, "{report}");
    // The gradient has the wrong sign: a relative error of 2; the value is twice what it is.
    assert!(
        (rel("loss_and_gradient pred") - 2.0).abs() < 1e-6,
        "{report}"
    );
    assert!(
        (rel("loss_and_gradient value") - 0.5).abs() < 1e-12,
        "{report}"
    );
    // The built-in passes both.
    let ok = gradcheck::check_loss(&SquaredError, &pred, &target).unwrap();
    assert!(ok.max_rel() < 1e-7, "{ok}");
}
