//! Misuse of the public traits and of optimizer state: user optimizers and layers that break
//! their contract, one optimizer shared by two models, forged optimizer states. Each is a typed
//! error that leaves the model (and the optimizer) as it was, never a panic, a hang or a NaN.

mod rogue;

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use backprop::gradcheck::GradCheck;
use backprop::optim::{OptimizerState, StateTensor};
use backprop::prelude::*;
use nalgebra::DMatrix;
use rogue::{Fault, Resizing, Rogue};

/// Every parameter's bits, in optimizer order.
fn bits(model: &Sequential<f64>) -> Vec<(usize, usize, Vec<u64>)> {
    model
        .params()
        .iter()
        .map(|(_, _, m)| {
            (
                m.nrows(),
                m.ncols(),
                m.iter().map(|v| v.to_bits()).collect(),
            )
        })
        .collect()
}

fn model(inputs: usize, hidden: usize) -> Sequential<f64> {
    Sequential::builder(inputs)
        .seed(3)
        .dense(hidden, Tanh)
        .dense(1, Identity)
        .build()
        .unwrap()
}

fn data(inputs: usize) -> (DMatrix<f64>, DMatrix<f64>) {
    let x = DMatrix::from_fn(4, inputs, |r, c| (r as f64 - 1.5) * 0.3 + c as f64 * 0.1);
    let y = DMatrix::from_fn(4, 1, |r, _| r as f64 * 0.25);
    (x, y)
}

// ----- item 1: a user optimizer that resizes a parameter ----------------------------------------

fn assert_resized_error(err: &Error) {
    assert!(
        matches!(err, Error::Shape { what, expected: (1, 3), actual: (1, 4096) } if what.contains("layer 0")),
        "{err:?}"
    );
}

#[test]
fn a_user_optimizer_that_resizes_a_parameter_is_refused_by_step_and_undone() {
    let mut m = model(2, 3);
    let (x, y) = data(2);
    let before = bits(&m);
    let err = m
        .step(
            &x,
            &y,
            &mut Resizing {
                updates: 0,
                after: 0,
            },
        )
        .unwrap_err();
    assert_resized_error(&err);
    assert_eq!(bits(&m), before, "every parameter is put back");
    // The model still predicts with its own shapes.
    assert_eq!(m.predict(&x).unwrap().shape(), (4, 1));
}

#[test]
fn a_user_optimizer_that_resizes_a_parameter_is_refused_by_update_and_undone() {
    let mut m = model(2, 3);
    let (x, y) = data(2);
    m.forward(&x).unwrap();
    m.backward(&y).unwrap();
    let before = bits(&m);
    // Resizes after the first weights were already updated: those are put back too.
    let err = m
        .update(&mut Resizing {
            updates: 0,
            after: 1,
        })
        .unwrap_err();
    assert_resized_error(&err);
    assert_eq!(bits(&m), before);
    assert_eq!(m.predict(&x).unwrap().shape(), (4, 1));
}

#[test]
fn a_user_optimizer_that_resizes_a_parameter_is_refused_by_fit() {
    let mut m = model(2, 3);
    let (x, y) = data(2);
    let mut opt = Resizing {
        updates: 0,
        after: 4 + 1, // in the second epoch (one full step), at the bias of layer 0
    };
    let err = m.fit(&x, &y, &mut opt, &Fit::new(3).full()).unwrap_err();
    assert_resized_error(&err);
    // The parameters are those of the last whole step: every shape as built.
    let shapes: Vec<_> = m.params().iter().map(|p| p.2.shape()).collect();
    assert_eq!(shapes, [(2, 3), (1, 3), (3, 1), (1, 1)]);
    assert!(m.predict(&x).is_ok());
}

// ----- item 2: one optimizer, two models --------------------------------------------------------

fn stateful() -> Vec<Box<dyn Optimizer<f64>>> {
    vec![
        Box::new(Adam::new(0.01).unwrap()),
        Box::new(AdamW::new(0.01).unwrap()),
        Box::new(RmsProp::new(0.01).unwrap().centered(true)),
        Box::new(Adagrad::new(0.01).unwrap()),
        Box::new(Sgd::new(0.01).unwrap().momentum(0.9).unwrap()),
    ]
}

#[test]
fn one_optimizer_on_two_models_is_a_typed_error() {
    for mut opt in stateful() {
        let (mut a, mut b) = (model(2, 3), model(2, 4));
        let (x, y) = data(2);
        a.step(&x, &y, opt.as_mut()).unwrap();
        a.step(&x, &y, opt.as_mut()).unwrap();
        let (state, before) = (opt.state(), bits(&b));
        let err = b.step(&x, &y, opt.as_mut()).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{opt:?}: {err:?}");
        assert_eq!(bits(&b), before, "{opt:?}");
        assert_eq!(opt.state(), state, "{opt:?}: the state is unchanged");
        let err = b.fit(&x, &y, opt.as_mut(), &Fit::new(2)).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{opt:?}: {err:?}");
        assert_eq!(bits(&b), before, "{opt:?}");
        b.forward(&x).unwrap();
        b.backward(&y).unwrap();
        let err = b.update(opt.as_mut()).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{opt:?}: {err:?}");
        assert_eq!(bits(&b), before, "{opt:?}");
        assert_eq!(opt.state(), state, "{opt:?}");
        // The same shapes, transposed: the same number of values, other shapes.
        let mut c = Sequential::builder(3)
            .seed(3)
            .bias(false)
            .dense(2, Tanh)
            .dense(1, Identity)
            .build()
            .unwrap();
        let mut d = Sequential::builder(2)
            .seed(3)
            .bias(false)
            .dense(3, Tanh)
            .dense(1, Identity)
            .build()
            .unwrap();
        opt.reset();
        let (x3, _) = data(3);
        c.step(&x3, &y, opt.as_mut()).unwrap();
        let err = d.step(&x, &y, opt.as_mut()).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{opt:?}: {err:?}");
    }
}

#[test]
fn a_smaller_model_refuses_the_state_of_a_larger_one() {
    let (mut big, mut small) = (model(2, 3), {
        Sequential::builder(2)
            .seed(1)
            .dense(1, Identity)
            .build()
            .unwrap()
    });
    let (x, y) = data(2);
    let mut adam = Adam::new(0.01).unwrap();
    big.step(&x, &y, &mut adam).unwrap();
    let before = bits(&small);
    let err = small.step(&x, &y, &mut adam).unwrap_err();
    assert!(
        matches!(err, Error::Format { .. } | Error::Shape { .. }),
        "{err:?}"
    );
    assert_eq!(bits(&small), before);
}

#[test]
fn another_models_loaded_state_is_a_typed_error_at_the_next_step() {
    for mut opt in stateful() {
        let (mut a, mut b) = (model(2, 3), model(2, 5));
        let (x, y) = data(2);
        a.fit(&x, &y, opt.as_mut(), &Fit::new(3)).unwrap();
        let state = opt.state();
        let mut fresh = stateful()
            .into_iter()
            .find(|o| format!("{o:?}").split(' ').next() == format!("{opt:?}").split(' ').next())
            .unwrap();
        fresh.load_state(&state).unwrap();
        let before = bits(&b);
        let err = b.step(&x, &y, fresh.as_mut()).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{opt:?}: {err:?}");
        assert_eq!(bits(&b), before);
        assert_eq!(fresh.state(), state);
    }
}

// ----- item 3: forged indices -------------------------------------------------------------------

fn tensor(index: usize, name: &str, value: DMatrix<f64>) -> StateTensor<f64> {
    StateTensor {
        index,
        name: name.into(),
        value,
    }
}

#[test]
fn a_forged_state_index_is_refused_without_allocating() {
    for index in [1usize << 26, 1 << 40, usize::MAX - 1, usize::MAX] {
        let mut opt = Adagrad::<f64>::new(0.1).unwrap();
        let state = OptimizerState {
            step: 1,
            tensors: vec![tensor(index, "sum", DMatrix::zeros(1, 1))],
        };
        let err = opt.load_state(&state).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{index}: {err:?}");
        assert_eq!(opt.state(), OptimizerState::default());
    }
}

#[test]
fn state_for_more_parameters_than_the_model_has_is_refused_at_the_step() {
    let mut m = Sequential::<f64>::builder(2)
        .seed(1)
        .dense(1, Identity)
        .build()
        .unwrap();
    let (x, y) = data(2);
    // Buffers for parameters 0, 1 (the model's) and 2 (none of its).
    let z = |r, c| DMatrix::zeros(r, c);
    let state = OptimizerState {
        step: 1,
        tensors: vec![
            tensor(0, "sum", z(2, 1)),
            tensor(1, "sum", z(1, 1)),
            tensor(2, "sum", z(1, 1)),
        ],
    };
    let mut opt = Adagrad::new(0.1).unwrap();
    opt.load_state(&state).unwrap();
    let before = bits(&m);
    let err = m.step(&x, &y, &mut opt).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert_eq!(bits(&m), before);
    let err = m.fit(&x, &y, &mut opt, &Fit::new(2)).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    assert_eq!(bits(&m), before);
    assert_eq!(opt.state(), state);
}

// ----- item 4: the guard cannot be bypassed -----------------------------------------------------

#[test]
fn negative_second_moments_and_accumulators_are_refused_on_load() {
    let neg = || DMatrix::from_row_slice(1, 2, &[0.5, -1e-3]);
    let z = || DMatrix::zeros(1, 2);
    type Case = (Box<dyn Optimizer<f64>>, Vec<StateTensor<f64>>);
    let cases: Vec<Case> = vec![
        (
            Box::new(Adam::new(0.1).unwrap()),
            vec![tensor(0, "exp_avg", z()), tensor(0, "exp_avg_sq", neg())],
        ),
        (
            Box::new(AdamW::new(0.1).unwrap()),
            vec![tensor(0, "exp_avg", z()), tensor(0, "exp_avg_sq", neg())],
        ),
        (
            Box::new(RmsProp::new(0.1).unwrap()),
            vec![tensor(0, "square_avg", neg())],
        ),
        (
            Box::new(Adagrad::new(0.1).unwrap()),
            vec![tensor(0, "sum", neg())],
        ),
    ];
    for (mut opt, tensors) in cases {
        let err = opt
            .load_state(&OptimizerState { step: 3, tensors })
            .unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{opt:?}: {err:?}");
        assert_eq!(opt.state(), OptimizerState::default(), "{opt:?}");
    }
    // A first moment and a momentum may be negative.
    let mut adam = Adam::<f64>::new(0.1).unwrap();
    let ok = vec![tensor(0, "exp_avg", neg()), tensor(0, "exp_avg_sq", z())];
    adam.load_state(&OptimizerState {
        step: 3,
        tensors: ok,
    })
    .unwrap();
}

/// One bias-free weight, the rows `x` and goals `y` of one column each.
fn line(w: f64) -> Sequential<f64> {
    let mut m = Sequential::builder(1)
        .bias(false)
        .dense(1, Identity)
        .build()
        .unwrap();
    m.set_weights(0, DMatrix::from_element(1, 1, w)).unwrap();
    m
}

#[test]
fn extreme_lr_and_eps_never_leave_a_non_finite_weight() {
    for decoupled in [false, true] {
        let mut m = line(0.5);
        let mut opt: Box<dyn Optimizer<f64>> = if decoupled {
            Box::new(AdamW::new(1e160).unwrap().eps(1e160).unwrap())
        } else {
            Box::new(Adam::new(1e160).unwrap().eps(1e160).unwrap())
        };
        // A zero gradient creates the moments without moving the weight.
        let zero = DMatrix::from_element(1, 1, 0.0);
        m.step(&zero, &zero, opt.as_mut()).unwrap();
        // m = 0.1 * g with g = 5e149, and lr / (1 - beta1^2) * m overflows.
        let x = DMatrix::from_element(1, 1, 1e75);
        let before = bits(&m);
        match m.step(&x, &zero, opt.as_mut()) {
            Ok(_) => assert!(m.params()[0].2.iter().all(|v| v.is_finite())),
            Err(Error::Diverged { .. }) => assert_eq!(bits(&m), before),
            Err(e) => panic!("{e}"),
        }
        assert!(
            m.params()[0].2.iter().all(|v| v.is_finite()),
            "{:?}",
            m.params()
        );
    }
}

// ----- item 8: user layers that break the contract ----------------------------------------------

fn rogue_model(fault: Fault) -> Result<Sequential<f64>> {
    Sequential::builder(2)
        .seed(2)
        .add(Rogue::new(2, fault))
        .dense(1, Identity)
        .build()
}

#[test]
fn a_layer_with_endless_parameters_is_refused_by_build_in_bounded_time() {
    let (send, recv) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(rogue_model(Fault::Endless).map(drop));
    });
    let built = recv
        .recv_timeout(Duration::from_secs(20))
        .expect("build returns");
    assert!(
        matches!(&built, Err(Error::InvalidLayer { layer: 0, .. })),
        "{built:?}"
    );
}

#[test]
fn a_layer_whose_gradient_shape_differs_is_refused() {
    let err = rogue_model(Fault::GradShape).unwrap_err();
    assert!(
        matches!(&err, Error::Shape { what, expected: (1, 1), actual: (2, 1) } if what.contains("layer 0")),
        "{err:?}"
    );
    // A gradient that changes shape in the backward pass: every optimizer refuses it.
    let (x, y) = data(2);
    let opts: Vec<Box<dyn Optimizer<f64>>> = vec![
        Box::new(Sgd::new(0.1).unwrap()),
        Box::new(Adam::new(0.1).unwrap()),
        Box::new(Resizing {
            updates: 0,
            after: usize::MAX,
        }),
    ];
    for mut opt in opts {
        let mut m = rogue_model(Fault::GradShapeLater).unwrap();
        let before = bits(&m);
        let err = m.step(&x, &y, opt.as_mut()).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{opt:?}: {err:?}");
        assert_eq!(bits(&m), before);
        let err = m.fit(&x, &y, opt.as_mut(), &Fit::new(2)).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{opt:?}: {err:?}");
        m.forward(&x).unwrap();
        m.backward(&y).unwrap();
        let err = m.update(opt.as_mut()).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{opt:?}: {err:?}");
        assert_eq!(bits(&m), before);
        assert!(backprop::gradcheck::check_model(&mut m, &x, &y).is_err());
    }
}

#[test]
fn a_layer_whose_output_width_changes_after_build_gives_typed_errors() {
    let rogue = Rogue::new(2, Fault::Grows);
    let grow = rogue.grow.clone();
    let mut m = Sequential::builder(2)
        .add(rogue)
        .add(Rogue::new(2, Fault::None))
        .build()
        .unwrap();
    let (x, _) = data(2);
    let y = DMatrix::from_element(4, 2, 0.5);
    m.step(&x, &y, &mut Sgd::new(0.1).unwrap()).unwrap();
    grow.store(true, Ordering::Relaxed);
    let before = bits(&m);
    let is_layer_error = |r: Result<()>| matches!(r, Err(Error::InvalidLayer { layer: 0, .. }));
    assert!(is_layer_error(m.predict(&x).map(drop)));
    assert!(is_layer_error(m.evaluate(&x, &y).map(drop)));
    assert!(is_layer_error(m.forward(&x).map(drop)));
    assert!(is_layer_error(
        m.step(&x, &y, &mut Sgd::new(0.1).unwrap()).map(drop)
    ));
    assert!(is_layer_error(
        m.fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &Fit::new(1))
            .map(drop)
    ));
    assert_eq!(bits(&m), before);
    // Reading what the last pass left uses the widths the model was built with.
    assert_eq!(m.layer_output(1).unwrap().shape(), (4, 2));
    assert_eq!(m.output_size(), 2);
}

/// Two inputs, one tanh unit.
fn tanh_unit<T: Float>() -> Sequential<T> {
    Sequential::builder(2)
        .seed(1)
        .dense(1, Tanh)
        .build()
        .unwrap()
}

#[test]
fn an_f32_gradient_check_step_that_rounds_to_zero_or_overflows_is_refused() {
    let mut m = tanh_unit::<f32>();
    let x = DMatrix::from_element(2, 2, 0.5f32);
    let y = DMatrix::from_element(2, 1, 0.25f32);
    for step in [1e-50, 1e-46, 1e300] {
        let check = GradCheck { step, floor: 1e-2 };
        let err = check.model(&mut m, &x, &y).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { .. }),
            "{step}: {err:?}"
        );
        let mut layer = Dense::<f32>::zeros(2, 1).unwrap();
        let err = check.layer(&mut layer, &x, &y).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { .. }),
            "{step}: {err:?}"
        );
        let err = check.activation(&Tanh, &x, &x).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { .. }),
            "{step}: {err:?}"
        );
        let err = check.loss(&Mse, &y, &y).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { .. }),
            "{step}: {err:?}"
        );
    }
    // The same steps are fine in f64 where they are representable.
    let mut m64 = tanh_unit::<f64>();
    let x64 = DMatrix::from_element(2, 2, 0.5);
    let y64 = DMatrix::from_element(2, 1, 0.25);
    assert!(
        GradCheck {
            step: 1e-50,
            floor: 1e-2
        }
        .model(&mut m64, &x64, &y64)
        .is_ok()
    );
}
