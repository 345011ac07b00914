//! The public API never panics on bad input: random shapes (zero sizes included) and random values
//! (NaN, infinities, huge and tiny numbers included) drive every entry point, and every call must
//! return `Ok` or `Err` (proptest reports a panic as a failure). A call that fails leaves the
//! model's parameters exactly as they were; a diverged training step leaves them finite.

use backprop::gradcheck::{self, GradCheck};
use backprop::io;
use backprop::prelude::*;
use nalgebra::DMatrix;
use proptest::prelude::*;

/// Values a user might pass, good and bad.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -2.0..2.0f64,
        2 => (0u8..4).prop_map(f64::from), // class labels, 0/1 targets
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(1e300),
        1 => Just(-1e300),
        1 => Just(f64::MIN_POSITIVE),
        1 => -1e6..1e6f64,
        1 => Just(-0.0),
    ]
}

/// A matrix described loosely: `rows` and `cols` either given or "whatever fits" (resolved
/// against the model at run time), filled by cycling `values`.
#[derive(Debug, Clone)]
struct Mat {
    rows: Option<usize>,
    cols: Option<usize>,
    values: Vec<f64>,
}

impl Mat {
    fn build<T: Float>(&self, rows: usize, cols: usize) -> DMatrix<T> {
        let r = self.rows.unwrap_or(rows);
        let c = self.cols.unwrap_or(cols);
        let v = &self.values;
        DMatrix::from_fn(r, c, |i, j| {
            if v.is_empty() {
                T::zero()
            } else {
                T::of(v[(i * c + j) % v.len()])
            }
        })
    }
}

/// Values a careful user passes: finite, often 0/1 targets or class labels.
fn clean_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => -2.0..2.0f64,
        2 => (0u8..3).prop_map(f64::from),
    ]
}

fn mat() -> impl Strategy<Value = Mat> {
    (
        prop_oneof![5 => Just(None), 1 => (0usize..5).prop_map(Some)],
        prop_oneof![5 => Just(None), 1 => (0usize..6).prop_map(Some)],
        prop_oneof![
            2 => prop::collection::vec(clean_value(), 0..12),
            1 => prop::collection::vec(value(), 0..12),
        ],
    )
        .prop_map(|(rows, cols, values)| Mat { rows, cols, values })
}

/// A model description; building it may fail (zero sizes, non-finite initial weights).
#[derive(Debug, Clone)]
struct Spec {
    inputs: usize,
    layers: Vec<(usize, u8, bool, f64)>,
    loss: u8,
    init: u8,
    constant: f64,
    seed: u32,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![6 => 1usize..5, 1 => Just(0)],
        prop::collection::vec(
            (
                prop_oneof![6 => 1usize..5, 1 => Just(0)],
                0u8..6,
                any::<bool>(),
                prop_oneof![3 => 0.0..1.0f64, 1 => value()],
            ),
            0..4,
        ),
        0u8..4,
        0u8..3,
        prop_oneof![3 => clean_value(), 1 => value()],
        any::<u32>(),
    )
        .prop_map(|(inputs, layers, loss, init, constant, seed)| Spec {
            inputs,
            layers,
            loss,
            init,
            constant,
            seed,
        })
}

fn build<T: Float>(s: &Spec) -> Result<Sequential<T>> {
    let mut b = Sequential::<T>::builder(s.inputs).seed(s.seed);
    b = match s.init {
        0 => b.init(BookUniform),
        1 => b.init(GlorotUniform),
        _ => b.init(Constant(s.constant)),
    };
    for &(units, f, bias, rate) in &s.layers {
        b = b.bias(bias);
        b = match f {
            5 => b.dropout(rate),
            0 => b.dense(units, Identity),
            1 => b.dense(units, Relu),
            2 => b.dense(units, Sigmoid),
            3 => b.dense(units, Tanh),
            _ => b.dense(units, Softmax),
        };
    }
    b = match s.loss {
        0 => b.loss(SquaredError),
        1 => b.loss(Mse),
        2 => b.loss(BinaryCrossEntropy),
        _ => b.loss(CategoricalCrossEntropy),
    };
    b.build()
}

/// Whether targets are one column of class indices (rather than the output width).
fn labels() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.25)
}

/// A layer index: mostly one that exists.
fn index() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0usize..3, 1 => 3usize..6, 1 => Just(usize::MAX)]
}

#[derive(Debug, Clone)]
enum Op {
    Forward(Mat),
    Backward(Mat, bool),
    Update(f64),
    Step(Mat, Mat, bool, f64),
    Fit(Mat, Mat, bool, f64, usize, u8, usize),
    Predict(Mat),
    Evaluate(Mat, Mat, bool),
    LayerOutput(usize),
    Delta(usize),
    Param(usize, bool),
    SetParam(usize, bool, Mat),
    Layer(usize),
    GradCheck(Mat, Mat, bool, f64, f64),
    SaveLoad,
}

fn op() -> impl Strategy<Value = Op> {
    let alpha = prop_oneof![3 => 0.001..0.5f64, 1 => value(), 1 => Just(1e30)];
    prop_oneof![
        mat().prop_map(Op::Forward),
        (mat(), labels()).prop_map(|(y, l)| Op::Backward(y, l)),
        alpha.clone().prop_map(Op::Update),
        (mat(), mat(), labels(), alpha.clone()).prop_map(|(x, y, l, a)| Op::Step(x, y, l, a)),
        (mat(), mat(), labels(), alpha, 0usize..3, 0u8..3, 0usize..4)
            .prop_map(|(x, y, l, a, e, d, n)| Op::Fit(x, y, l, a, e, d, n)),
        mat().prop_map(Op::Predict),
        (mat(), mat(), labels()).prop_map(|(x, y, l)| Op::Evaluate(x, y, l)),
        index().prop_map(Op::LayerOutput),
        index().prop_map(Op::Delta),
        (index(), any::<bool>()).prop_map(|(i, b)| Op::Param(i, b)),
        (index(), any::<bool>(), mat()).prop_map(|(i, b, m)| Op::SetParam(i, b, m)),
        index().prop_map(Op::Layer),
        (mat(), mat(), labels(), value(), value())
            .prop_map(|(x, y, l, h, f)| Op::GradCheck(x, y, l, h, f)),
        Just(Op::SaveLoad),
    ]
}

fn bits<T: Float>(model: &Sequential<T>) -> Vec<u64> {
    model
        .params()
        .iter()
        .flat_map(|(_, _, m)| m.iter().map(|v| v.as_f64().to_bits()).collect::<Vec<_>>())
        .collect()
}

fn finite<T: Float>(model: &Sequential<T>) -> bool {
    model
        .params()
        .iter()
        .all(|(_, _, m)| m.iter().all(|v| v.finite()))
}

/// Targets for `rows` rows: of the output width, or (`labels`) one column of class indices.
fn targets<T: Float>(y: &Mat, model: &Sequential<T>, rows: usize, labels: bool) -> DMatrix<T> {
    y.build(rows, if labels { 1 } else { model.output_size() })
}

/// Runs one operation; returns the outcome as `Result<(), Error>` and whether it was a training
/// step (whose divergence may legitimately move parameters in earlier steps of `fit`).
fn apply<T: Float>(model: &mut Sequential<T>, op: &Op) -> (Result<()>, bool) {
    let inputs = model.input_size();
    let sgd = |a: f64| Sgd::new(T::of(a));
    match op {
        Op::Forward(x) => (model.forward(&x.build(3, inputs)).map(drop), false),
        Op::Backward(y, l) => {
            let rows = model.layer_output(0).map_or(3, |v| v.nrows());
            let y = targets(y, model, rows, *l);
            (model.backward(&y).map(drop), false)
        }
        Op::Update(a) => match sgd(*a) {
            Ok(mut opt) => (model.update(&mut opt), false),
            Err(e) => (Err(e), false),
        },
        Op::Step(x, y, l, a) => {
            let x = x.build(2, inputs);
            let y = targets(y, model, x.nrows(), *l);
            let r = sgd(*a).and_then(|mut opt| model.step(&x, &y, &mut opt).map(drop));
            (r, true)
        }
        Op::Fit(x, y, l, a, epochs, descent, n) => {
            let x = x.build(4, inputs);
            let y = targets(y, model, x.nrows(), *l);
            let fit = match descent {
                0 => Fit::new(*epochs).stochastic(),
                1 => Fit::new(*epochs).mini_batch(*n),
                _ => Fit::new(*epochs).full(),
            };
            let r = sgd(*a).and_then(|mut opt| model.fit(&x, &y, &mut opt, &fit).map(drop));
            (r, true)
        }
        Op::Predict(x) => (model.predict(&x.build(5, inputs)).map(drop), false),
        Op::Evaluate(x, y, l) => {
            let x = x.build(3, inputs);
            let y = targets(y, model, x.nrows(), *l);
            (model.evaluate(&x, &y).map(drop), false)
        }
        Op::LayerOutput(i) => (model.layer_output(*i).map(drop), false),
        Op::Delta(i) => (model.delta(*i).map(drop), false),
        Op::Param(i, bias) => {
            let name = if *bias { "bias" } else { "weights" };
            let a = model.param(*i, name).map(drop);
            let b = model.grad(*i, name).map(drop);
            let c = model.weights(*i).map(drop);
            let d = model.weight_delta(*i).map(drop);
            (a.and(b).and(c).and(d), false)
        }
        Op::SetParam(i, bias, m) => {
            let (rows, cols) = model
                .layer(*i)
                .map_or((1, 1), |l| (l.input_size(), l.output_size()));
            if *bias {
                (model.set_param(*i, "bias", m.build(1, cols)), false)
            } else {
                (model.set_weights(*i, m.build(rows, cols)), false)
            }
        }
        Op::Layer(i) => {
            let a = model
                .layer(*i)
                .map(|l| (l.name().len(), l.activation().is_some()));
            let _ = model.layer_as::<Dense<T>>(*i);
            (a.map(drop), false)
        }
        Op::GradCheck(x, y, l, h, f) => {
            let x = x.build(2, inputs);
            let y = targets(y, model, x.nrows(), *l);
            let a = gradcheck::check_model(model, &x, &y).map(drop);
            let b = GradCheck {
                step: *h,
                floor: *f,
            }
            .model(model, &x, &y)
            .map(drop);
            (a.and(b), false)
        }
        Op::SaveLoad => {
            let r = io::to_bytes(model).and_then(|bytes| {
                let loaded = io::from_bytes::<T>(&bytes)?;
                assert_eq!(
                    bits(&loaded),
                    bits(model),
                    "a loaded model equals the saved one"
                );
                Ok(())
            });
            (r, false)
        }
    }
}

fn drive<T: Float>(spec: &Spec, ops: &[Op]) -> std::result::Result<(), TestCaseError> {
    let Ok(mut model) = build::<T>(spec) else {
        return Ok(()); // a typed error from the builder is all that is asked
    };
    for op in ops {
        let before = bits(&model);
        let was_finite = finite(&model);
        let (result, training) = apply(&mut model, op);
        match result {
            Ok(()) => {
                if training && was_finite {
                    prop_assert!(finite(&model), "{op:?} left a non-finite parameter");
                }
            }
            Err(Error::Diverged { .. }) => {
                prop_assert!(training, "only training reports divergence");
                if was_finite {
                    prop_assert!(finite(&model), "{op:?} diverged and kept bad parameters");
                }
                if matches!(op, Op::Step(..)) {
                    prop_assert_eq!(&bits(&model), &before, "a diverged step changed parameters");
                }
            }
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                prop_assert_eq!(
                    &bits(&model),
                    &before,
                    "{:?} failed ({}) but changed parameters",
                    op,
                    e
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn sequential_never_panics_f64(spec in spec(), ops in prop::collection::vec(op(), 1..8)) {
        drive::<f64>(&spec, &ops)?;
    }

    #[test]
    fn sequential_never_panics_f32(spec in spec(), ops in prop::collection::vec(op(), 1..8)) {
        drive::<f32>(&spec, &ops)?;
    }

    #[test]
    fn building_blocks_never_panic(
        a in mat(), b in mat(), c in mat(),
        rows in 0usize..4, cols in 0usize..4, outputs in 0usize..5,
        alpha in value(), lo in value(), hi in value(), seed in any::<u32>(), h in value(),
    ) {
        // Optimizer and generator.
        let _ = Sgd::<f64>::new(alpha);
        let _ = Sgd::<f32>::new(alpha as f32);
        let mut rng = NumpyRng::new(seed);
        let _ = (rng.random(), rng.uniform(lo, hi), rng.random_matrix(rows, cols));
        // Initialisers, zero sizes included.
        let _: DMatrix<f64> = BookUniform.weights(rows, cols, &mut rng);
        let _: DMatrix<f32> = GlorotUniform.weights(rows, cols, &mut rng);
        let _: DMatrix<f64> = Constant(lo).weights(rows, cols, &mut rng);
        let _: DMatrix<f64> = GlorotUniform.bias(cols, &mut rng);
        // Dense constructors and setters.
        let weights: DMatrix<f64> = a.build(rows, cols);
        let bias: DMatrix<f64> = b.build(1, weights.ncols());
        let mut dense = Dense::zeros(rows, cols);
        let before = (dense.weights().clone(), dense.bias().cloned());
        if dense.set_weights(weights.clone()).is_err() {
            prop_assert_eq!(dense.weights(), &before.0);
        }
        if dense.set_bias(bias.clone()).is_err() {
            prop_assert_eq!(dense.bias(), before.1.as_ref());
        }
        let _ = Dense::from_weights(weights.clone(), None);
        if let Ok(layer) = Dense::from_weights(weights.clone(), Some(bias.clone())) {
            // The gradient checker on a layer with random input and upstream.
            let mut layer = layer.with_activation(Tanh);
            let input = c.build(2, layer.input_size());
            let upstream = b.build(input.nrows(), layer.output_size());
            let _ = gradcheck::check_layer(&mut layer, &input, &upstream);
            let _ = GradCheck { step: h, floor: 1e-3 }.layer(&mut layer, &input, &upstream);
        }
        // Every loss's target check and gradient check, every activation's gradient check.
        let pred: DMatrix<f64> = a.build(3, outputs);
        let target: DMatrix<f64> = b.build(pred.nrows(), outputs);
        let labels: DMatrix<f64> = c.build(pred.nrows(), 1);
        let losses: [&dyn Loss<f64>; 4] =
            [&SquaredError, &Mse, &BinaryCrossEntropy, &CategoricalCrossEntropy];
        for loss in losses {
            for t in [&target, &labels] {
                let _ = loss.check_targets(outputs, t.as_view());
                let _ = gradcheck::check_loss(loss, &pred, t);
            }
        }
        let activations: [&dyn Activation<f64>; 5] = [&Identity, &Relu, &Sigmoid, &Tanh, &Softmax];
        for f in activations {
            let _ = gradcheck::check_activation(f, &pred, &target);
            let _ = GradCheck { step: h, floor: h }.activation(f, &pred, &target);
        }
        // Loading bytes that are no model.
        let junk: Vec<u8> = a.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        prop_assert!(io::from_bytes::<f64>(&junk).is_err());
    }
}
