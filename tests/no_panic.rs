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

/// An optimizer state with its buffers' values as bits, to compare states that hold NaN.
fn state_bits<T: Float>(state: &OptimizerState<T>) -> (u64, Vec<(usize, String, Vec<u64>)>) {
    let tensors = state.tensors.iter().map(|t| {
        let values = t.value.iter().map(|v| v.as_f64().to_bits()).collect();
        (t.index, t.name.clone(), values)
    });
    (state.step, tensors.collect())
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
        let _ = (rng.random(), rng.uniform(lo, hi));
        let shape = |m: Result<DMatrix<f64>>| m.map(|m| m.shape());
        prop_assert_eq!(shape(rng.random_matrix(rows, cols)), Ok((rows, cols)));
        // Initialisers, zero sizes included.
        prop_assert_eq!(shape(BookUniform.weights(rows, cols, &mut rng)), Ok((rows, cols)));
        let w: Result<DMatrix<f32>> = GlorotUniform.weights(rows, cols, &mut rng);
        prop_assert_eq!(w.map(|m| m.shape()), Ok((rows, cols)));
        prop_assert_eq!(shape(Constant(lo).weights(rows, cols, &mut rng)), Ok((rows, cols)));
        prop_assert_eq!(shape(GlorotUniform.bias(cols, &mut rng)), Ok((1, cols)));
        // Dense constructors and setters.
        let weights: DMatrix<f64> = a.build(rows, cols);
        let bias: DMatrix<f64> = b.build(1, weights.ncols());
        let mut dense = Dense::zeros(rows, cols).unwrap();
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
        prop_assert!(io::from_bytes_with_optimizer::<f64>(&junk).is_err());
    }
}

// ----- sizes no matrix can have ------------------------------------------------------------------

/// A size whose matrices cannot exist: from 2^56 up to `usize::MAX`, so that even one row of it
/// needs more bytes than an address space holds (either the byte count overflows and is refused
/// before allocating, or the allocator refuses it; nothing is ever filled).
fn huge() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(usize::MAX),
        Just(usize::MAX - 1),
        Just(usize::MAX / 2),
        Just(usize::MAX / 3),
        Just(isize::MAX as usize / 8 + 1),
        Just(1usize << 56),
        (1usize << 56)..=usize::MAX,
    ]
}

fn is_too_large<T: std::fmt::Debug>(r: &Result<T>) -> bool {
    matches!(r, Err(Error::TooLarge { .. }))
}

/// Every initialiser, for one float type.
fn initialisers<T: Float>() -> Vec<Box<dyn Initializer<T>>> {
    vec![
        Box::new(Zeros),
        Box::new(Constant(0.5)),
        Box::new(Uniform::new(-1.0, 1.0).unwrap()),
        Box::new(Normal::new(0.0, 1.0).unwrap()),
        Box::new(BookUniform),
        Box::new(GlorotUniform),
        Box::new(GlorotNormal),
        Box::new(HeUniform),
        Box::new(HeNormal),
    ]
}

fn huge_sizes_are_too_large<T: Float>(
    big: usize,
    other: usize,
    n: usize,
    seed: u32,
) -> std::result::Result<(), TestCaseError> {
    // The builder: a huge input width, a huge layer, a huge layer after a normal one or after
    // dropout; `build` names the layer.
    for (inputs, units) in [(big, n), (n, big), (big, other)] {
        let model = Sequential::<T>::builder(inputs)
            .seed(seed)
            .dense(units, Relu)
            .dense(1, Identity)
            .build();
        prop_assert!(
            matches!(&model, Err(Error::TooLarge { what, rows, cols })
                if what == "weights of layer 0" && (*rows, *cols) == (inputs, units)),
            "{} x {}: {:?}",
            inputs,
            units,
            model
        );
    }
    let deeper = Sequential::<T>::builder(n)
        .dense(3, Tanh)
        .dense(big, Relu)
        .dense(2, Identity)
        .build();
    prop_assert!(is_too_large(&deeper), "{:?}", deeper);
    let after_dropout = Sequential::<T>::builder(big)
        .dropout(0.5)
        .dense(n, Relu)
        .build();
    prop_assert!(is_too_large(&after_dropout), "{:?}", after_dropout);
    // Every initialiser, weights and bias.
    let mut rng = NumpyRng::new(seed);
    for init in initialisers::<T>() {
        for (rows, cols) in [(big, n), (n, big), (big, other)] {
            let w = init.weights(rows, cols, &mut rng);
            prop_assert!(is_too_large(&w), "{:?} {} x {}", init, rows, cols);
        }
        let b = init.bias(big, &mut rng);
        prop_assert!(is_too_large(&b), "{:?} bias {}", init, big);
    }
    // Layers, the generator, one-hot targets.
    prop_assert!(is_too_large(&Dense::<T>::zeros(big, n)));
    prop_assert!(is_too_large(&Dense::<T>::zeros(n, big)));
    prop_assert!(is_too_large(&NumpyRng::new(seed).random_matrix(big, n)));
    prop_assert!(is_too_large(&NumpyRng::new(seed).random_matrix(n, big)));
    prop_assert!(is_too_large(&backprop::data::one_hot::<T>(&[0, 1], big)));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn huge_sizes_are_typed_errors(
        big in huge(), other in huge(), n in 1usize..5, seed in any::<u32>(),
    ) {
        huge_sizes_are_too_large::<f64>(big, other, n, seed)?;
        huge_sizes_are_too_large::<f32>(big, other, n, seed)?;
    }
}

#[test]
fn the_sizes_that_used_to_overflow_are_typed_errors() {
    let err = Sequential::<f64>::builder(usize::MAX)
        .dense(2, Relu)
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        Error::TooLarge {
            what: "weights of layer 0".into(),
            rows: usize::MAX,
            cols: 2
        }
    );
    assert!(err.to_string().contains("too large"), "{err}");
    let err = Sequential::<f64>::builder(3)
        .dense(usize::MAX, Relu)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        Error::TooLarge {
            rows: 3,
            cols: usize::MAX,
            ..
        }
    ));
    // One input: the weights' count fits, their bytes do not.
    let err = Sequential::<f32>::builder(1)
        .dense(usize::MAX, Relu)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { rows: 1, .. }));
    // Bytes that fit in `isize` but in no address space: refused by the allocator, not filled.
    let err = Sequential::<f32>::builder(1)
        .bias(false)
        .dense(usize::MAX / 8, Relu)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(matches!(
        Dense::<f64>::zeros(usize::MAX, 2),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        Dense::<f64>::zeros(usize::MAX / 2, 3),
        Err(Error::TooLarge { .. })
    ));
    // Glorot's fan_in + fan_out overflowed before anything was allocated.
    let mut rng = NumpyRng::new(1);
    for (fan_in, fan_out) in [(usize::MAX, 1), (usize::MAX, usize::MAX), (1, usize::MAX)] {
        let w: Result<DMatrix<f64>> = GlorotUniform.weights(fan_in, fan_out, &mut rng);
        assert!(
            matches!(w, Err(Error::TooLarge { .. })),
            "{fan_in} x {fan_out}"
        );
        let w: Result<DMatrix<f64>> = GlorotNormal.weights(fan_in, fan_out, &mut rng);
        assert!(
            matches!(w, Err(Error::TooLarge { .. })),
            "{fan_in} x {fan_out}"
        );
    }
    assert!(matches!(
        NumpyRng::new(1).random_matrix(usize::MAX, 2),
        Err(Error::TooLarge { .. })
    ));
    // Nothing was drawn for the refused matrix: the generator continues as a fresh one.
    let mut rng = NumpyRng::new(1);
    assert!(rng.random_matrix(usize::MAX / 2, 3).is_err());
    assert_eq!(rng.random(), NumpyRng::new(1).random());
}

// ----- misbehaving user types, and optimizers shared between models ------------------------------

mod rogue;

use rogue::{Fault, Poisoning, Resizing, Rogue};
use std::sync::atomic::Ordering;

fn fault() -> impl Strategy<Value = Fault> {
    prop::sample::select(vec![
        Fault::None,
        Fault::GradShape,
        Fault::GradShapeLater,
        Fault::Endless,
        Fault::Grows,
        Fault::Nan,
    ])
}

/// A model of `inputs` columns: a dense layer of `hidden` units, a rogue layer with `fault`, and
/// a dense output; the rogue layer's switch that makes it grow.
fn rogue_model(
    inputs: usize,
    hidden: usize,
    fault: Fault,
    seed: u32,
) -> (
    Result<Sequential<f64>>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let layer = Rogue::new(hidden, fault);
    let grow = layer.grow.clone();
    let model = Sequential::builder(inputs)
        .seed(seed)
        .dense(hidden, Tanh)
        .add(layer)
        .dense(1, Identity)
        .build();
    (model, grow)
}

/// Optimizers the two models share: the crate's (stateful ones included) and users' that resize
/// a parameter or write NaN.
fn pool(resize_after: usize) -> Vec<Box<dyn Optimizer<f64>>> {
    vec![
        Box::new(Sgd::new(0.1).unwrap()),
        Box::new(Sgd::new(0.1).unwrap().momentum(0.9).unwrap()),
        Box::new(Adam::new(0.05).unwrap()),
        Box::new(
            RmsProp::new(0.01)
                .and_then(|o| o.centered(true).momentum(0.5))
                .unwrap(),
        ),
        Box::new(Adagrad::new(0.1).unwrap()),
        Box::new(Resizing {
            updates: 0,
            after: resize_after,
        }),
        Box::new(Poisoning),
    ]
}

#[derive(Debug, Clone)]
enum UserOp {
    Step(bool, usize, Mat, Mat),
    Fit(bool, usize, usize, u8, Mat, Mat),
    Update(bool, usize, Mat, Mat),
    Predict(bool, Mat),
    Grow(bool),
    LoadState(usize, usize),
    Reset(usize),
    GradCheck(bool, Mat, Mat),
}

fn user_op() -> impl Strategy<Value = UserOp> {
    let opt = 0usize..7;
    prop_oneof![
        3 => (any::<bool>(), opt.clone(), mat(), mat()).prop_map(|(m, o, x, y)| UserOp::Step(m, o, x, y)),
        2 => (any::<bool>(), opt.clone(), 0usize..3, 0u8..3, mat(), mat())
            .prop_map(|(m, o, e, d, x, y)| UserOp::Fit(m, o, e, d, x, y)),
        2 => (any::<bool>(), opt.clone(), mat(), mat()).prop_map(|(m, o, x, y)| UserOp::Update(m, o, x, y)),
        1 => (any::<bool>(), mat()).prop_map(|(m, x)| UserOp::Predict(m, x)),
        1 => any::<bool>().prop_map(UserOp::Grow),
        1 => (opt.clone(), opt.clone()).prop_map(|(a, b)| UserOp::LoadState(a, b)),
        1 => opt.prop_map(UserOp::Reset),
        1 => (any::<bool>(), mat(), mat()).prop_map(|(m, x, y)| UserOp::GradCheck(m, x, y)),
    ]
}

fn shapes(model: &Sequential<f64>) -> Vec<(usize, usize)> {
    model.params().iter().map(|(_, _, m)| m.shape()).collect()
}

/// Checks a guarded training call on `model`: a step that fails changes nothing, a `fit` that
/// fails keeps the parameters finite (earlier epochs may have moved them), and a call that
/// succeeds on finite parameters leaves them finite.
fn guarded(
    model: &mut Sequential<f64>,
    call: impl FnOnce(&mut Sequential<f64>) -> Result<()>,
    whole_step: bool,
) -> std::result::Result<(), TestCaseError> {
    let (before, was_finite) = (bits(model), finite(model));
    match call(model) {
        Ok(()) => prop_assert!(!was_finite || finite(model), "a NaN got through"),
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            prop_assert!(!was_finite || finite(model), "{} kept a NaN", e);
            if whole_step {
                prop_assert_eq!(&bits(model), &before, "{} changed the parameters", e);
            }
        }
    }
    Ok(())
}

/// Runs `ops` on two models (of other widths) sharing one pool of optimizers: every call
/// returns, no parameter ever changes shape, a refused call changes nothing, and a guarded step
/// never leaves a NaN.
fn drive_rogues(
    (faults, hidden, seed, resize_after): ([Fault; 2], [usize; 2], u32, usize),
    ops: &[UserOp],
) -> std::result::Result<(), TestCaseError> {
    let mut grow = Vec::new();
    let mut models = Vec::new();
    for k in 0..2 {
        match rogue_model(2 + k, hidden[k], faults[k], seed) {
            (Ok(m), g) => {
                models.push(m);
                grow.push(g);
            }
            (Err(e), _) => prop_assert!(!e.to_string().is_empty()),
        }
    }
    if models.is_empty() {
        return Ok(());
    }
    let built: Vec<_> = models.iter().map(shapes).collect();
    let mut opts = pool(resize_after);
    for op in ops {
        let n = models.len();
        let k = |b: bool| usize::from(b) % n;
        match op {
            UserOp::Step(m, o, x, y) => {
                let (model, opt) = (&mut models[k(*m)], opts[*o].as_mut());
                let x = x.build(2, model.input_size());
                let y = y.build(x.nrows(), 1);
                guarded(model, |m| m.step(&x, &y, opt).map(drop), true)?;
            }
            UserOp::Fit(m, o, epochs, descent, x, y) => {
                let (model, opt) = (&mut models[k(*m)], opts[*o].as_mut());
                let x = x.build(3, model.input_size());
                let y = y.build(x.nrows(), 1);
                let fit = match descent {
                    0 => Fit::new(*epochs).stochastic(),
                    1 => Fit::new(*epochs).mini_batch(2),
                    _ => Fit::new(*epochs).full(),
                };
                guarded(model, |m| m.fit(&x, &y, opt, &fit).map(drop), false)?;
            }
            UserOp::Update(m, o, x, y) => {
                let (model, opt) = (&mut models[k(*m)], opts[*o].as_mut());
                let x = x.build(2, model.input_size());
                let y = y.build(x.nrows(), 1);
                let ready = match model.forward(&x) {
                    Ok(_) => model.backward(&y),
                    Err(e) => Err(e),
                };
                let before = bits(model);
                // `update` is not guarded against NaN, only against misuse.
                if let Err(e) = ready.and_then(|_| model.update(opt)) {
                    prop_assert_eq!(&bits(model), &before, "{} changed the parameters", e);
                }
            }
            UserOp::Predict(m, x) => {
                let model = &models[k(*m)];
                let _ = model.predict(&x.build(3, model.input_size()));
            }
            UserOp::Grow(m) => grow[k(*m)].store(true, Ordering::Relaxed),
            UserOp::LoadState(from, to) => {
                let (state, before) = (opts[*from].state(), opts[*to].state());
                if opts[*to].load_state(&state).is_err() {
                    // By bits: a state may hold NaN, which `==` never finds equal to itself.
                    prop_assert_eq!(state_bits(&opts[*to].state()), state_bits(&before));
                }
            }
            UserOp::Reset(o) => opts[*o].reset(),
            UserOp::GradCheck(m, x, y) => {
                let model = &mut models[k(*m)];
                let x = x.build(2, model.input_size());
                let y = y.build(x.nrows(), 1);
                let before = bits(model);
                let _ = gradcheck::check_model(model, &x, &y);
                prop_assert_eq!(&bits(model), &before, "the gradient check restores");
            }
        }
        for (model, built) in models.iter().zip(&built) {
            prop_assert_eq!(&shapes(model), built, "{:?} resized a parameter", op);
            // Whatever happened, the model predicts or says why not.
            let _ = model.predict(&DMatrix::from_element(2, model.input_size(), 0.5));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn misbehaving_user_types_and_shared_optimizers_never_panic(
        faults in [fault(), fault()],
        hidden in [1usize..4, 1usize..4],
        seed in any::<u32>(),
        resize_after in prop_oneof![0usize..12, Just(usize::MAX)],
        ops in prop::collection::vec(user_op(), 1..10),
    ) {
        drive_rogues((faults, hidden, seed, resize_after), &ops)?;
    }
}
