//! The divergence guard: a step whose loss, gradient or update is not finite is refused, and the
//! parameters are exactly (bit for bit) those from before that step.

use backprop::prelude::*;
use nalgebra::DMatrix;

/// `streetlights_dimmer * 20` (seed 003, "Can also be scalar multiples") and the six-row
/// `walk_vs_stop` of the chapter.
fn streetlights_times_20() -> (DMatrix<f64>, DMatrix<f64>) {
    let dimmer = DMatrix::from_row_slice(
        6,
        3,
        &[
            0.9, 0.0, 1., 0.2, 0.8, 1., 0.1, 0.0, 1., 0.8, 0.9, 1., 0.1, 0.7, 1., 0.9, 0.1, 0.,
        ],
    );
    let walk_vs_stop = DMatrix::from_column_slice(6, 1, &[0., 1., 0., 1., 1., 0.]);
    (dimmer * 20.0, walk_vs_stop)
}

/// The chapter's one-layer network, `weights = [0.5, 0.48, -0.7]`.
fn book_network<T: Float>() -> Sequential<T> {
    let mut model = Sequential::<T>::builder(3)
        .bias(false)
        .dense(1, Identity)
        .build()
        .unwrap();
    let weights = [0.5, 0.48, -0.7].map(T::of);
    model
        .set_weights(0, DMatrix::from_column_slice(3, 1, &weights))
        .unwrap();
    model
}

fn bits(model: &Sequential<f64>) -> Vec<u64> {
    model
        .params()
        .iter()
        .flat_map(|(_, _, m)| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

/// The chapter's loop written out by hand (seed 003, "Learning the whole dataset"):
/// `prediction = input.dot(weights)`, `delta = prediction - goal`,
/// `weights -= alpha * input * delta`, in the same order of operations as the crate's products.
/// Returns the epoch and step whose loss (½ delta²) is the first that is not finite, and the
/// weights just before that step.
fn hand_rolled_until_overflow(
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    alpha: f64,
) -> (usize, usize, [f64; 3]) {
    let mut weights = [0.5, 0.48, -0.7];
    for epoch in 0..10_000 {
        for row in 0..x.nrows() {
            let mut prediction = 0.0;
            for j in 0..3 {
                prediction += x[(row, j)] * weights[j];
            }
            let delta = prediction - y[(row, 0)];
            let error = delta * delta * 0.5;
            if !error.is_finite() {
                return (epoch, row, weights);
            }
            for j in 0..3 {
                weights[j] -= alpha * (x[(row, j)] * delta);
            }
        }
    }
    panic!("the hand-rolled loop did not diverge");
}

#[test]
fn fit_stops_at_the_diverging_step_with_the_weights_from_before_it() {
    let (x, y) = streetlights_times_20();
    let (epoch, step, expected) = hand_rolled_until_overflow(&x, &y, 0.1);
    let mut model = book_network();
    let err = model
        .fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &Fit::new(10_000))
        .unwrap_err();
    assert_eq!(
        err,
        Error::Diverged {
            epoch,
            step,
            what: "loss",
            layer: None
        }
    );
    let weights = model.weights(0).unwrap();
    for j in 0..3 {
        assert_eq!(
            weights[(j, 0)].to_bits(),
            expected[j].to_bits(),
            "weight {j}"
        );
    }
    // The last good weights still predict (huge, but finite, numbers).
    let prediction = model.predict(&x).unwrap();
    assert!(prediction.iter().all(|p| p.is_finite()));
}

#[test]
fn step_by_step_replay_reaches_the_same_weights_and_the_failing_step_changes_nothing() {
    let (x, y) = streetlights_times_20();
    let mut fitted = book_network();
    let mut opt = Sgd::new(0.1).unwrap();
    let Error::Diverged { epoch, step, .. } =
        fitted.fit(&x, &y, &mut opt, &Fit::new(10_000)).unwrap_err()
    else {
        panic!("expected divergence");
    };
    let mut replay = book_network();
    for k in 0..epoch * x.nrows() + step {
        let r = k % x.nrows();
        let loss = replay
            .step(
                &x.rows(r, 1).into_owned(),
                &y.rows(r, 1).into_owned(),
                &mut opt,
            )
            .unwrap();
        assert!(loss.is_finite());
    }
    assert_eq!(bits(&replay), bits(&fitted));
    let before = bits(&replay);
    let err = replay
        .step(
            &x.rows(step, 1).into_owned(),
            &y.rows(step, 1).into_owned(),
            &mut opt,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Diverged {
            epoch: 0,
            step: 0,
            what: "loss",
            ..
        }
    ));
    assert_eq!(bits(&replay), before);
    // The gradients of the refused step cannot be applied by hand either.
    assert!(matches!(
        replay.update(&mut opt),
        Err(Error::NotReady { .. })
    ));
    assert_eq!(bits(&replay), before);
}

#[test]
fn mini_batch_divergence_names_the_batch() {
    let (x, y) = streetlights_times_20();
    let mut fitted = book_network();
    let mut opt = Sgd::new(0.1).unwrap();
    let Error::Diverged { epoch, step, .. } = fitted
        .fit(&x, &y, &mut opt, &Fit::new(10_000).mini_batch(4))
        .unwrap_err()
    else {
        panic!("expected divergence");
    };
    assert!(
        step < 2,
        "six rows in batches of four make two steps per epoch"
    );
    // Batches: rows 0..4 and 4..6.
    let batches = [(0, 4), (4, 2)];
    let mut replay = book_network();
    for k in 0..epoch * 2 + step {
        let (start, rows) = batches[k % 2];
        replay
            .step(
                &x.rows(start, rows).into_owned(),
                &y.rows(start, rows).into_owned(),
                &mut opt,
            )
            .unwrap();
    }
    assert_eq!(bits(&replay), bits(&fitted));
    let (start, rows) = batches[step];
    assert!(
        replay
            .step(
                &x.rows(start, rows).into_owned(),
                &y.rows(start, rows).into_owned(),
                &mut opt
            )
            .is_err()
    );
    assert_eq!(bits(&replay), bits(&fitted));
}

#[test]
fn an_update_that_overflows_is_rolled_back() {
    // Finite loss and gradients, but alpha * gradient overflows: the guard sees the parameter.
    let mut model = Sequential::<f64>::builder(2)
        .seed(3)
        .dense(2, Tanh)
        .dense(1, Identity)
        .build()
        .unwrap();
    let x = DMatrix::from_row_slice(1, 2, &[0.5, -1.0]);
    let y = DMatrix::from_element(1, 1, 3.0);
    let before = bits(&model);
    let err = model
        .step(&x, &y, &mut Sgd::new(1e308).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Diverged {
                what: "parameter",
                layer: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(bits(&model), before);
}

/// Moves layer 0 normally and sets layer 1's weights to infinity: layer 0 has already changed
/// when the guard sees layer 1, so it must be put back too.
#[derive(Debug, Default)]
struct Sabotage {
    steps: usize,
    updates: usize,
}

impl Optimizer<f64> for Sabotage {
    fn begin_step(&mut self) {
        self.steps += 1;
    }
    fn update(&mut self, index: usize, value: &mut DMatrix<f64>, grad: &DMatrix<f64>) {
        self.updates += 1;
        if index == 2 {
            value[(0, 0)] = f64::INFINITY;
        } else {
            *value -= grad * 0.5;
        }
    }
    fn learning_rate(&self) -> f64 {
        0.5
    }
    fn set_learning_rate(&mut self, _lr: f64) -> backprop::Result<()> {
        Ok(())
    }
}

#[test]
fn a_later_layer_failing_restores_the_earlier_layers_too() {
    let mut model = Sequential::<f64>::builder(2)
        .seed(5)
        .dense(3, Relu)
        .dense(1, Sigmoid)
        .build()
        .unwrap();
    let x = DMatrix::from_row_slice(2, 2, &[0.5, -1.0, 1.0, 2.0]);
    let y = DMatrix::from_row_slice(2, 1, &[1.0, 0.0]);
    let before = bits(&model);
    let mut opt = Sabotage::default();
    let err = model.step(&x, &y, &mut opt).unwrap_err();
    assert_eq!(
        err,
        Error::Diverged {
            epoch: 0,
            step: 0,
            what: "parameter",
            layer: Some(1)
        }
    );
    assert!(
        opt.updates >= 3,
        "layer 0 weights and bias were updated before layer 1 failed"
    );
    assert_eq!(bits(&model), before);
}

#[test]
fn a_nan_gradient_with_a_finite_loss_is_caught_before_the_optimizer_sees_it() {
    // z = 10 * 1e308 - 10 * 1e308 = inf - inf = NaN; the clamped cross-entropy stays finite
    // (-ln is floored at 100), but the delta pred - goal is NaN.
    let mut model = Sequential::<f64>::builder(2)
        .bias(false)
        .dense(1, Sigmoid)
        .loss(BinaryCrossEntropy)
        .build()
        .unwrap();
    model
        .set_weights(0, DMatrix::from_column_slice(2, 1, &[1e308, 1e308]))
        .unwrap();
    let x = DMatrix::from_row_slice(1, 2, &[10.0, -10.0]);
    let y = DMatrix::from_element(1, 1, 1.0);
    let before = bits(&model);
    let mut opt = Sabotage::default();
    let err = model.fit(&x, &y, &mut opt, &Fit::new(3)).unwrap_err();
    assert_eq!(
        err,
        Error::Diverged {
            epoch: 0,
            step: 0,
            what: "gradient",
            layer: Some(0)
        }
    );
    assert_eq!(
        (opt.steps, opt.updates),
        (0, 0),
        "the optimizer was not called"
    );
    assert_eq!(bits(&model), before);
}

#[test]
fn f32_overflows_sooner_and_is_guarded_the_same_way() {
    let (x, y) = streetlights_times_20();
    let (x, y) = (x.map(|v| v as f32), y.map(|v| v as f32));
    let mut model = book_network::<f32>();
    let err = model
        .fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &Fit::new(10_000))
        .unwrap_err();
    let Error::Diverged { epoch, .. } = err else {
        panic!("{err:?}")
    };
    assert!(
        epoch < 3,
        "f32 overflows near 3.4e38, within two or three epochs here"
    );
    assert!(model.weights(0).unwrap().iter().all(|w| w.is_finite()));
    assert!(model.predict(&x).unwrap().iter().all(|p| p.is_finite()));
}

#[test]
fn a_stateful_optimizer_keeps_its_state_when_the_loss_or_a_gradient_diverges() {
    use backprop::Adam;
    let (x, y) = streetlights_times_20();
    let mut model = book_network();
    // Adam moves each weight by about its rate per step: with a rate of 1e160 the weights reach
    // about 1e160 after one step, and the next prediction's square overflows.
    let mut adam = Adam::new(1e160).unwrap();
    let err = model.fit(&x, &y, &mut adam, &Fit::new(10)).unwrap_err();
    assert!(
        matches!(err, Error::Diverged { what: "loss", .. }),
        "{err:?}"
    );
    let Error::Diverged { epoch, step, .. } = err else {
        unreachable!()
    };
    // Replaying the good steps with a fresh optimizer gives the same weights and the same state.
    let mut replay = book_network();
    let mut fresh = Adam::new(1e160).unwrap();
    for k in 0..epoch * x.nrows() + step {
        let r = k % x.nrows();
        replay
            .step(
                &x.rows(r, 1).into_owned(),
                &y.rows(r, 1).into_owned(),
                &mut fresh,
            )
            .unwrap();
    }
    assert_eq!(bits(&replay), bits(&model));
    assert_eq!(fresh.state(), adam.state());
    let good_steps = (epoch * x.nrows() + step) as u64;
    assert!(good_steps > 0);
    assert_eq!(adam.state().step, good_steps);
}

#[test]
fn shuffled_epochs_are_guarded_too() {
    let (x, y) = streetlights_times_20();
    let mut model = book_network();
    let fit = Fit::new(10_000).mini_batch(4).shuffle(7);
    let err = model
        .fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &fit)
        .unwrap_err();
    let Error::Diverged { step, what, .. } = err else {
        panic!("{err:?}")
    };
    assert!(
        step < 2,
        "six rows in batches of four make two steps per epoch"
    );
    assert_eq!(what, "loss");
    assert!(model.weights(0).unwrap().iter().all(|w| w.is_finite()));
    assert!(model.predict(&x).unwrap().iter().all(|p| p.is_finite()));
}

/// Every optimizer of the crate, stateful ones in several settings.
fn every_optimizer() -> Vec<(&'static str, Box<dyn Optimizer<f64>>)> {
    use backprop::{Adagrad, Adam, AdamW, RmsProp};
    vec![
        ("sgd", Box::new(Sgd::new(0.01).unwrap())),
        (
            "momentum",
            Box::new(Sgd::new(0.01).unwrap().momentum(0.9).unwrap()),
        ),
        (
            "nesterov",
            Box::new(
                Sgd::new(0.01)
                    .unwrap()
                    .momentum(0.9)
                    .unwrap()
                    .nesterov(true)
                    .unwrap(),
            ),
        ),
        ("rmsprop", Box::new(RmsProp::new(0.01).unwrap())),
        (
            "rmsprop centered momentum",
            Box::new(
                RmsProp::new(0.01)
                    .unwrap()
                    .centered(true)
                    .momentum(0.5)
                    .unwrap(),
            ),
        ),
        ("adagrad", Box::new(Adagrad::new(0.01).unwrap())),
        ("adam", Box::new(Adam::new(0.01).unwrap())),
        ("adamw", Box::new(AdamW::new(0.01).unwrap())),
    ]
}

#[test]
fn an_update_that_overflows_puts_back_the_weights_and_the_optimizer_state() {
    let x = DMatrix::from_row_slice(2, 2, &[0.5, -1.0, 1.0, 2.0]);
    let y = DMatrix::from_row_slice(2, 1, &[3.0, -2.0]);
    for (name, mut opt) in every_optimizer() {
        for good_steps in [0, 3] {
            let mut model = Sequential::<f64>::builder(2)
                .seed(11)
                .dense(3, Tanh)
                .dense(1, Identity)
                .build()
                .unwrap();
            for _ in 0..good_steps {
                model.step(&x, &y, opt.as_mut()).unwrap();
            }
            // Finite loss and gradients, but the largest rate moves the weights past the
            // largest float (or, for Adagrad, whose steps are at most the rate, to about it).
            opt.set_learning_rate(f64::MAX).unwrap();
            let (weights, state) = (bits(&model), opt.state());
            let err = model.step(&x, &y, opt.as_mut()).unwrap_err();
            let Error::Diverged { what, layer, .. } = err else {
                panic!("{name}: {err:?}")
            };
            assert_eq!(bits(&model), weights, "{name} after {good_steps} steps");
            assert_eq!(opt.state(), state, "{name} after {good_steps} steps");
            if name != "adagrad" {
                assert_eq!((what, layer.is_some()), ("parameter", true), "{name}");
            }
            // Training goes on from the restored state with a sane rate.
            opt.set_learning_rate(0.01).unwrap();
            model.step(&x, &y, opt.as_mut()).unwrap();
            opt.reset();
        }
    }
}

#[test]
fn adam_moments_that_overflow_are_put_back_with_the_weights() {
    // In f32 a gradient of 1e21 is finite but (1 - beta2) times its square, which enters Adam's
    // `exp_avg_sq`, is not: the weights would stay finite (the step divides by that infinity) but the optimizer
    // would be stuck. The guard names the optimizer state and restores it.
    use backprop::Adam;
    let mut model = Sequential::<f32>::builder(1)
        .bias(false)
        .dense(1, Identity)
        .build()
        .unwrap();
    model
        .set_weights(0, DMatrix::from_element(1, 1, 1e17))
        .unwrap();
    let zero = DMatrix::from_element(1, 1, 0.0f32);
    let mut adam = Adam::<f32>::new(0.001).unwrap();
    // Gradient 1e17: 0.001 times its square is still finite.
    model
        .step(&DMatrix::from_element(1, 1, 1.0), &zero, &mut adam)
        .unwrap();
    let (weights, state) = (model.weights(0).unwrap().clone(), adam.state());
    // Prediction 1e19, loss 5e37 (finite), gradient 100 * 1e19 = 1e21.
    let err = model
        .step(&DMatrix::from_element(1, 1, 100.0), &zero, &mut adam)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Diverged {
                what: "optimizer state",
                layer: Some(0),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        model.weights(0).unwrap().as_slice()[0].to_bits(),
        weights[(0, 0)].to_bits()
    );
    assert_eq!(adam.state(), state);
    assert_eq!(adam.state().step, 1);
}

#[test]
fn the_epochs_before_a_divergence_keep_their_history() {
    // The chapter's network on streetlights * 20 diverges after some epochs; the losses of the
    // epochs before it are those of a run of exactly that many epochs.
    let (x, y) = streetlights_times_20();
    let train = |model: &mut Sequential<f64>, alpha: f64, epochs: usize| {
        let mut sgd = Sgd::new(alpha).unwrap();
        model.fit(&x, &y, &mut sgd, &Fit::new(epochs).stochastic())
    };
    let mut model = book_network::<f64>();
    let err = train(&mut model, 0.1, 100).unwrap_err();
    let Error::Diverged { epoch, .. } = err else {
        panic!("{err:?}")
    };
    assert!(epoch > 0);
    let history = model.take_interrupted_history().unwrap();
    let mut fresh = book_network::<f64>();
    let full = train(&mut fresh, 0.1, epoch).unwrap();
    assert_eq!(history.loss, full.loss);
    assert!(fresh.take_interrupted_history().is_none());
    // A later call that succeeds drops an interrupted history that was not taken.
    assert!(matches!(
        train(&mut model, 0.1, 100),
        Err(Error::Diverged { .. })
    ));
    model
        .set_weights(0, book_network::<f64>().weights(0).unwrap().clone())
        .unwrap();
    train(&mut model, 1e-4, 1).unwrap();
    assert!(model.take_interrupted_history().is_none());
}
