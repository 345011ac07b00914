//! The training loop: shuffling, validation, early stopping, callbacks and metrics.

use backprop::metrics::{accuracy, confusion_matrix};
use backprop::prelude::*;
use nalgebra::DMatrix;

/// A small two-class problem: the class is whether x0 + x1 > 1 (40 rows on a grid).
fn data() -> (DMatrix<f64>, DMatrix<f64>) {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for i in 0..40 {
        let (a, b) = ((i % 8) as f64 / 7.0, (i / 8) as f64 / 4.0);
        xs.extend([a, b]);
        ys.push(if a + b > 1.0 { 1.0 } else { 0.0 });
    }
    (
        DMatrix::from_row_slice(40, 2, &xs),
        DMatrix::from_column_slice(40, 1, &ys),
    )
}

fn model(seed: u32) -> Sequential<f64> {
    Sequential::builder(2)
        .seed(seed)
        .dense(6, Tanh)
        .dense(1, Sigmoid)
        .loss(BinaryCrossEntropy)
        .build()
        .unwrap()
}

fn weights(m: &Sequential<f64>) -> Vec<DMatrix<f64>> {
    m.params().into_iter().map(|(_, _, w)| w.clone()).collect()
}

#[test]
fn shuffling_is_reproducible_per_seed_and_differs_between_seeds() {
    let (x, y) = data();
    let run = |seed: u32| {
        let mut m = model(1);
        m.fit(
            &x,
            &y,
            &mut Sgd::new(0.3).unwrap(),
            &Fit::new(3).mini_batch(5).shuffle(seed),
        )
        .unwrap();
        weights(&m)
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    // And shuffled training is not the in-order training.
    let mut m = model(1);
    m.fit(
        &x,
        &y,
        &mut Sgd::new(0.3).unwrap(),
        &Fit::new(3).mini_batch(5),
    )
    .unwrap();
    assert_ne!(weights(&m), run(7));
}

#[test]
fn shuffled_full_batch_equals_in_order_full_batch_up_to_summation_order() {
    // A full batch sees every row once per update whatever the order.
    let (x, y) = data();
    let mut a = model(4);
    let mut b = model(4);
    a.fit(&x, &y, &mut Sgd::new(0.5).unwrap(), &Fit::new(5).full())
        .unwrap();
    b.fit(
        &x,
        &y,
        &mut Sgd::new(0.5).unwrap(),
        &Fit::new(5).full().shuffle(3),
    )
    .unwrap();
    for (wa, wb) in weights(&a).iter().zip(weights(&b).iter()) {
        approx::assert_relative_eq!(wa, wb, epsilon = 1e-12);
    }
}

#[test]
fn validation_split_holds_out_the_last_rows() {
    let (x, y) = data();
    let mut m = model(2);
    let h = m
        .fit(
            &x,
            &y,
            &mut Sgd::new(0.2).unwrap(),
            &Fit::new(4).validation_split(0.25).accuracy(true),
        )
        .unwrap();
    assert_eq!(
        (h.loss.len(), h.val_loss.len(), h.val_accuracy.len()),
        (4, 4, 4)
    );
    // Keras's rule: the first floor(40 * 0.75) = 30 rows train, the last 10 validate.
    let (xv, yv) = (x.rows(30, 10).clone_owned(), y.rows(30, 10).clone_owned());
    assert_eq!(*h.val_loss.last().unwrap(), m.evaluate(&xv, &yv).unwrap());
    assert_eq!(
        *h.val_accuracy.last().unwrap(),
        accuracy(&m.predict(&xv).unwrap(), &yv).unwrap()
    );
    // Training touched only the first 30 rows: an identical model trained on them agrees.
    let mut m2 = model(2);
    m2.fit(
        &x.rows(0, 30).clone_owned(),
        &y.rows(0, 30).clone_owned(),
        &mut Sgd::new(0.2).unwrap(),
        &Fit::new(4),
    )
    .unwrap();
    assert_eq!(weights(&m), weights(&m2));
}

#[test]
fn early_stopping_restores_the_best_epochs_weights() {
    let (x, y) = data();
    // Validation labels are the opposite of the training labels: the better the model learns,
    // the worse it validates, so the validation loss soon rises and training stops.
    let y_flipped = y.map(|v| 1.0 - v);
    let fit = Fit::new(200)
        .mini_batch(8)
        .early_stopping(EarlyStopping::new(3));
    let mut m = model(5);
    let h = m
        .fit_with(
            &x,
            &y,
            Some((&x, &y_flipped)),
            &mut Sgd::new(0.5).unwrap(),
            &fit,
            &mut |_, _| Control::Continue,
        )
        .unwrap();
    assert!(h.stopped_early, "{h:?}");
    let best = h.best_epoch.unwrap();
    // Patience 3: training stopped after 3 epochs without improvement, as Keras does.
    assert_eq!(h.loss.len(), best + 1 + 3);
    let min = h.val_loss.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(h.val_loss[best], min);
    // The restored weights are those after epoch `best`: a fresh run of best + 1 epochs.
    let mut again = model(5);
    again
        .fit(
            &x,
            &y,
            &mut Sgd::new(0.5).unwrap(),
            &Fit::new(best + 1).mini_batch(8),
        )
        .unwrap();
    assert_eq!(weights(&m), weights(&again));
    assert_eq!(m.evaluate(&x, &y_flipped).unwrap(), min);
}

#[test]
fn a_callback_can_stop_training_and_sees_every_epoch() {
    let (x, y) = data();
    let mut m = model(3);
    let mut seen = Vec::new();
    let h = m
        .fit_with(
            &x,
            &y,
            None,
            &mut Sgd::new(0.1).unwrap(),
            &Fit::new(50),
            &mut |e, _| {
                seen.push(e.epoch);
                if e.epoch == 6 {
                    Control::Stop
                } else {
                    Control::Continue
                }
            },
        )
        .unwrap();
    assert_eq!(seen, (0..=6).collect::<Vec<_>>());
    assert_eq!(h.loss.len(), 7);
    assert!(h.stopped_early);
}

#[test]
fn training_learns_the_problem() {
    let (x, y) = data();
    let mut m = model(6);
    let h = m
        .fit(
            &x,
            &y,
            &mut Sgd::new(1.0).unwrap(),
            &Fit::new(300).mini_batch(4).shuffle(1).accuracy(true),
        )
        .unwrap();
    assert!(
        h.loss.last().unwrap() < &(h.loss[0] * 0.5),
        "{:?}",
        (h.loss[0], h.loss.last())
    );
    let acc = accuracy(&m.predict(&x).unwrap(), &y).unwrap();
    assert!(acc >= 0.9, "accuracy {acc}");
}

#[test]
fn invalid_settings_are_rejected_before_any_update() {
    let (x, y) = data();
    let mut m = model(1);
    let before = weights(&m);
    let mut sgd = Sgd::new(0.1).unwrap();
    for (fit, name) in [
        (Fit::new(2).mini_batch(0), "batch size"),
        (Fit::new(2).validation_split(1.0), "validation split"),
        (Fit::new(2).validation_split(f64::NAN), "validation split"),
        (
            Fit::new(2).early_stopping(EarlyStopping::new(1).min_delta(-1.0)),
            "early stopping min_delta",
        ),
    ] {
        match m.fit(&x, &y, &mut sgd, &fit) {
            Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{fit:?}: {other:?}"),
        }
    }
    // Splits that leave no training row (floor(1 * 0.5) = 0) or no validation row
    // (1 - 1e-20 rounds to 1, so floor(40 * 1.0) = 40 rows train).
    let (x1, y1) = (x.rows(0, 1).clone_owned(), y.rows(0, 1).clone_owned());
    let half = Fit::new(1).validation_split(0.5);
    assert!(matches!(
        m.fit(&x1, &y1, &mut sgd, &half),
        Err(Error::Empty { .. })
    ));
    let tiny = Fit::new(1).validation_split(1e-20);
    assert!(matches!(
        m.fit(&x, &y, &mut sgd, &tiny),
        Err(Error::Empty { .. })
    ));
    // A validation set of the wrong width.
    let bad = DMatrix::zeros(3, 5);
    let yv = DMatrix::zeros(3, 1);
    assert!(matches!(
        m.fit_with(
            &x,
            &y,
            Some((&bad, &yv)),
            &mut sgd,
            &Fit::new(1),
            &mut |_, _| Control::Continue
        ),
        Err(Error::Shape { .. })
    ));
    assert_eq!(weights(&m), before);
}

#[test]
fn accuracy_and_confusion_matrix_count_by_hand() {
    // Softmax-style rows against class indices, counted by hand:
    // row 0 predicts 1 (actual 1), row 1 predicts 0 (actual 2), row 2 predicts 2 (actual 2),
    // row 3 predicts 0 (actual 0), row 4: a tie between 0 and 2 goes to the first (0; actual 1).
    #[rustfmt::skip]
    let p = DMatrix::from_row_slice(5, 3, &[
        0.1, 0.8, 0.1,
        0.5, 0.2, 0.3,
        0.2, 0.2, 0.6,
        0.9, 0.05, 0.05,
        0.4, 0.2, 0.4,
    ]);
    let y = DMatrix::from_column_slice(5, 1, &[1.0, 2.0, 2.0, 0.0, 1.0]);
    assert_eq!(accuracy(&p, &y).unwrap(), 3.0 / 5.0);
    let cm = confusion_matrix(&p, &y).unwrap();
    let expected = [[1, 0, 0], [1, 1, 0], [1, 0, 1]]; // [actual][predicted]
    for (a, row) in expected.iter().enumerate() {
        for (q, &n) in row.iter().enumerate() {
            assert_eq!(cm.count(a, q), n, "actual {a} predicted {q}");
        }
    }
    assert_eq!(cm.total(), 5);
    assert!(cm.to_string().contains("predicted"));
    // One-hot targets give the same answer as class indices.
    let onehot = DMatrix::from_fn(5, 3, |r, c| if y[(r, 0)] as usize == c { 1.0 } else { 0.0 });
    assert_eq!(confusion_matrix(&p, &onehot).unwrap(), cm);
    // Bad labels are errors.
    let bad = DMatrix::from_column_slice(5, 1, &[1.0, 2.0, 3.0, 0.0, 1.0]);
    assert!(matches!(
        accuracy(&p, &bad),
        Err(Error::InvalidLabel {
            row: 2,
            classes: 3,
            ..
        })
    ));
    let frac = DMatrix::from_column_slice(5, 1, &[1.0, 0.5, 2.0, 0.0, 1.0]);
    assert!(matches!(
        accuracy(&p, &frac),
        Err(Error::InvalidLabel { row: 1, .. })
    ));
}

#[test]
fn a_schedule_sets_each_epochs_learning_rate() {
    use backprop::optim::StepLr;
    let (x, y) = data();
    let mut a = model(8);
    let mut sgd = Sgd::new(0.2).unwrap();
    let h = a
        .fit(
            &x,
            &y,
            &mut sgd,
            &Fit::new(4)
                .mini_batch(8)
                .schedule(StepLr::new(2, 0.5).unwrap()),
        )
        .unwrap();
    assert_eq!(h.learning_rate, vec![0.2, 0.2, 0.1, 0.1]);
    // The same by hand: two epochs at 0.2, then two at 0.1.
    let mut b = model(8);
    let mut sgd2 = Sgd::new(0.2).unwrap();
    b.fit(&x, &y, &mut sgd2, &Fit::new(2).mini_batch(8))
        .unwrap();
    sgd2.set_learning_rate(0.1).unwrap();
    b.fit(&x, &y, &mut sgd2, &Fit::new(2).mini_batch(8))
        .unwrap();
    assert_eq!(weights(&a), weights(&b));
}

#[test]
fn gradient_clipping_in_fit_matches_clipping_by_hand() {
    use backprop::ClipGradNorm;
    let (x, y) = data();
    let mut a = model(9);
    let mut sgd = Sgd::new(2.0).unwrap();
    a.fit(
        &x,
        &y,
        &mut sgd,
        &Fit::new(1).mini_batch(10).clip_grad_norm(0.05),
    )
    .unwrap();
    // By hand: forward, backward, clip, update, batch after batch.
    let mut b = model(9);
    let mut sgd2 = Sgd::new(2.0).unwrap();
    let clip = ClipGradNorm::new(0.05).unwrap();
    let mut clipped_any = false;
    for start in (0..40).step_by(10) {
        b.forward(&x.rows(start, 10).clone_owned()).unwrap();
        b.backward(&y.rows(start, 10).clone_owned()).unwrap();
        let c = b.clip_gradients(&clip).unwrap();
        clipped_any |= c.scale < 1.0;
        // After clipping the global norm is at most the maximum.
        let norm = backprop::optim::global_norm(b.params_grads());
        assert!(norm <= 0.05 + 1e-9, "norm {norm}");
        b.update(&mut sgd2).unwrap();
    }
    assert!(clipped_any, "the test must exercise clipping");
    assert_eq!(weights(&a), weights(&b));
    // Without clipping the result differs.
    let mut c = model(9);
    c.fit(
        &x,
        &y,
        &mut Sgd::new(2.0).unwrap(),
        &Fit::new(1).mini_batch(10),
    )
    .unwrap();
    assert_ne!(weights(&a), weights(&c));
    // An invalid maximum is rejected before any update.
    let before = weights(&c);
    assert!(
        c.fit(
            &x,
            &y,
            &mut Sgd::new(2.0).unwrap(),
            &Fit::new(1).clip_grad_norm(-1.0)
        )
        .is_err()
    );
    assert_eq!(weights(&c), before);
}

#[test]
fn mini_batch_fit_equals_stepping_through_the_same_batches() {
    // `fit` lets the first layer read each batch where it lies in `x`; `step` copies it. Both
    // must give the same bits, and the input of the last batch is what `layer_output(0)` shows.
    let (x, y) = data();
    let mut fitted = model(3);
    let mut sgd = Sgd::new(0.3).unwrap();
    fitted
        .fit(&x, &y, &mut sgd, &Fit::new(3).mini_batch(7))
        .unwrap();
    let mut stepped = model(3);
    let mut sgd = Sgd::new(0.3).unwrap();
    for _ in 0..3 {
        let mut start = 0;
        while start < x.nrows() {
            let rows = 7.min(x.nrows() - start);
            let xb = x.rows(start, rows).into_owned();
            let yb = y.rows(start, rows).into_owned();
            stepped.step(&xb, &yb, &mut sgd).unwrap();
            start += rows;
        }
    }
    let bits = |m: &Sequential<f64>| -> Vec<u64> {
        weights(m)
            .iter()
            .flat_map(|w| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect()
    };
    assert_eq!(bits(&fitted), bits(&stepped));
    // 40 rows in batches of 7: the last batch is rows 35..40.
    assert_eq!(fitted.layer_output(0).unwrap(), x.rows(35, 5));
    assert_eq!(
        fitted.layer_output(0).unwrap(),
        stepped.layer_output(0).unwrap()
    );
}
