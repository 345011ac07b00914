//! Training that a program can steer: a callback that sees the model, checkpoints of the best
//! epoch, the history as CSV, runs that go on across `fit` calls, and the warm-up and plateau
//! schedules checked against PyTorch.

use backprop::optim::{LinearLr, LrScheduler, ReduceLrOnPlateau, Schedule, StepLr};
use backprop::prelude::*;
use nalgebra::DMatrix;

/// Two classes on 16 rows: whether x0 + x1 > 1, one-hot.
fn data() -> (DMatrix<f64>, DMatrix<f64>) {
    let x = DMatrix::from_fn(16, 2, |r, c| ((r * (3 + c) + c) % 7) as f64 / 6.0);
    let y = DMatrix::from_fn(16, 2, |r, c| {
        let one = x[(r, 0)] + x[(r, 1)] > 1.0;
        f64::from(u8::from(one == (c == 1)))
    });
    (x, y)
}

fn model() -> Sequential<f64> {
    Sequential::builder(2)
        .seed(5)
        .dense(5, Tanh)
        .dense(2, Softmax)
        .loss(CategoricalCrossEntropy)
        .build()
        .unwrap()
}

/// Every parameter's bits, in order.
fn bits(m: &Sequential<f64>) -> Vec<u64> {
    m.params()
        .into_iter()
        .flat_map(|(_, _, w)| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

fn loss_bits(h: &History<f64>) -> Vec<u64> {
    h.loss
        .iter()
        .chain(&h.val_loss)
        .chain(&h.learning_rate)
        .map(|v| v.to_bits())
        .collect()
}

// ---- 1. The callback sees the model ----

#[test]
fn the_callback_sees_the_model_as_each_epoch_left_it() {
    let (x, y) = data();
    let mut m = model();
    let mut seen = Vec::new();
    m.fit_with(
        &x,
        &y,
        None,
        &mut Sgd::new(0.5).unwrap(),
        &Fit::new(4).mini_batch(4).shuffle(3),
        &mut |epoch, model| {
            seen.push((epoch.epoch, bits(model), model.predict(&x).unwrap()));
            Control::Continue
        },
    )
    .unwrap();
    // What the callback saw after epoch k is what a run of k + 1 epochs ends with.
    for (epoch, weights, predicted) in &seen {
        let mut alone = model();
        alone
            .fit(
                &x,
                &y,
                &mut Sgd::new(0.5).unwrap(),
                &Fit::new(epoch + 1).mini_batch(4).shuffle(3),
            )
            .unwrap();
        assert_eq!(weights, &bits(&alone), "epoch {epoch}");
        assert_eq!(predicted, &alone.predict(&x).unwrap());
    }
    assert_eq!(seen.len(), 4);
    assert_ne!(seen[0].1, seen[3].1, "the model trained between the calls");
}

// ---- 4. Training goes on across `fit` calls ----

/// Ten epochs in one call, and five then five more with `resume`: the same bits, with a
/// shuffle, a validation split, a schedule and Adam's state carried by the same optimizer.
fn one_call_and_two(schedule: impl Schedule + 'static) -> [(Vec<u64>, Vec<u64>); 2] {
    let (x, y) = data();
    let fit = Fit::new(10)
        .mini_batch(3)
        .shuffle(11)
        .validation_split(0.25)
        .accuracy(true)
        .schedule(schedule);
    let mut once = model();
    let mut adam = Adam::new(0.05).unwrap();
    let all = once.fit(&x, &y, &mut adam, &fit).unwrap();
    // The second half trained at other rates than the first (so a restarted schedule differs).
    let lr = &all.learning_rate;
    assert_ne!(lr[..5], lr[5..]);

    let mut twice = model();
    let mut adam = Adam::new(0.05).unwrap();
    let half = Fit {
        epochs: 5,
        ..fit.clone()
    };
    let first = twice.fit(&x, &y, &mut adam, &half).unwrap();
    let rest = twice
        .fit(&x, &y, &mut adam, &half.clone().resume(&first))
        .unwrap();
    assert_eq!((first.initial_epoch, rest.initial_epoch), (0, 5));
    assert_eq!(rest.next_epoch(), 10);
    assert!(rest.to_csv().lines().nth(1).unwrap().starts_with("5,"));
    let joined = History {
        loss: [first.loss, rest.loss].concat(),
        val_loss: [first.val_loss, rest.val_loss].concat(),
        learning_rate: [first.learning_rate, rest.learning_rate].concat(),
        ..History::default()
    };
    [
        (bits(&once), loss_bits(&all)),
        (bits(&twice), loss_bits(&joined)),
    ]
}

#[test]
fn five_epochs_then_five_more_give_the_bits_of_ten() {
    let [once, twice] = one_call_and_two(LinearLr::new(0.25, 1.0, 4).unwrap());
    assert_eq!(once, twice);
    let [once, twice] = one_call_and_two(StepLr::new(3, 0.5).unwrap());
    assert_eq!(once, twice);
}

#[test]
fn a_plateau_schedule_goes_on_across_calls_through_the_shared_fit() {
    let plateau = ReduceLrOnPlateau::new(0.5, 0)
        .unwrap()
        .threshold(0.5)
        .unwrap();
    let [once, twice] = one_call_and_two(plateau);
    assert_eq!(once, twice);
}

#[test]
fn without_resuming_a_second_call_repeats_the_first_shuffle_and_rates() {
    // The behaviour `resume` replaces: a call numbered from 0 starts the schedule and the
    // shuffle again (this also shows the test above can tell the two apart).
    let (x, y) = data();
    let fit = Fit::new(3)
        .mini_batch(3)
        .shuffle(11)
        .schedule(StepLr::new(1, 0.5).unwrap());
    let mut m = model();
    let mut sgd = Sgd::new(0.2).unwrap();
    let first = m.fit(&x, &y, &mut sgd, &fit).unwrap();
    let again = m.fit(&x, &y, &mut sgd, &fit).unwrap();
    assert_eq!(again.learning_rate, [0.05 * 1.0, 0.05 * 0.5, 0.05 * 0.25]);
    let resumed = m
        .fit(&x, &y, &mut sgd, &fit.clone().resume(&first))
        .unwrap();
    assert_eq!(resumed.learning_rate, [0.2 / 8.0, 0.2 / 16.0, 0.2 / 32.0]);
    assert_eq!(resumed.initial_epoch, 3);
}

#[test]
fn epochs_errors_and_early_stopping_count_from_the_initial_epoch() {
    let (x, y) = data();
    let mut m = model();
    let mut seen = Vec::new();
    let h = m
        .fit_with(
            &x,
            &y,
            Some((&x, &y.map(|v| 1.0 - v))),
            &mut Sgd::new(0.5).unwrap(),
            &Fit::new(30)
                .initial_epoch(100)
                .early_stopping(EarlyStopping::new(2)),
            &mut |e, _| {
                seen.push(e.epoch);
                Control::Continue
            },
        )
        .unwrap();
    assert_eq!(seen[0], 100);
    assert_eq!(seen, (100..100 + h.loss.len()).collect::<Vec<_>>());
    assert!(h.best_epoch.unwrap() >= 100);

    // A diverging step is reported with its epoch's number.
    let x = DMatrix::from_row_slice(2, 2, &[18.0, 20.0, 2.0, 20.0]);
    let y = DMatrix::from_row_slice(2, 1, &[0.0, 1.0]);
    let mut m = Sequential::<f64>::builder(2)
        .bias(false)
        .dense(1, Identity)
        .build()
        .unwrap();
    let fit = Fit::new(1000).initial_epoch(7);
    let err = m
        .fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &fit)
        .unwrap_err();
    let Error::Diverged { epoch, .. } = err else {
        panic!("{err}")
    };
    let h = m.take_interrupted_history().unwrap();
    assert_eq!(epoch, h.next_epoch());
    assert_eq!(h.initial_epoch, 7);
}

#[test]
fn an_initial_epoch_that_overflows_is_refused_before_training() {
    let (x, y) = data();
    let mut m = model();
    let before = bits(&m);
    let fit = Fit::new(2).initial_epoch(usize::MAX);
    let err = m
        .fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &fit)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
    assert_eq!(bits(&m), before);
}

// ---- 3. History as CSV ----

#[test]
fn the_csv_has_every_recorded_column_and_reads_back_to_the_same_numbers() {
    let (x, y) = data();
    let mut m = model();
    let fit = Fit::new(3)
        .mini_batch(4)
        .validation_split(0.25)
        .accuracy(true)
        .initial_epoch(2);
    let h = m.fit(&x, &y, &mut Sgd::new(0.3).unwrap(), &fit).unwrap();
    let csv = h.to_csv();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,loss,learning_rate,accuracy,val_loss,val_accuracy")
    );
    for (i, line) in lines.enumerate() {
        let cells: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
        let expected = [
            (2 + i) as f64,
            h.loss[i],
            h.learning_rate[i],
            h.accuracy[i],
            h.val_loss[i],
            h.val_accuracy[i],
        ];
        let same = cells
            .iter()
            .zip(&expected)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same && cells.len() == 6, "{line} vs {expected:?}");
    }
    assert_eq!(csv.lines().count(), 4);

    // Without accuracy or validation, the three columns there always are; f32 numbers in
    // their own shortest form.
    let h = History::<f32> {
        loss: vec![0.1],
        learning_rate: vec![0.01],
        ..History::default()
    };
    assert_eq!(h.to_csv(), "epoch,loss,learning_rate\n0,0.1,0.01\n");
}

#[cfg(feature = "safetensors")]
#[test]
fn write_csv_replaces_the_file_whole_and_refuses_a_directory() {
    let dir = scratch("csv");
    let path = dir.join("history.csv");
    std::fs::write(&path, "old").unwrap();
    let h = History::<f64> {
        loss: vec![0.5],
        learning_rate: vec![0.1],
        ..History::default()
    };
    h.write_csv(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), h.to_csv());
    let err = h.write_csv(&dir).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- 2. Checkpoints ----

/// The identity, as a user would write an activation of their own.
#[cfg(feature = "safetensors")]
#[derive(Debug, Clone)]
struct Linear;

#[cfg(feature = "safetensors")]
impl Activation<f64> for Linear {
    fn name(&self) -> &'static str {
        "Linear"
    }
    fn forward(&self, _z: MatrixViewMut<'_, f64>) {}
    fn backward(&self, _output: MatrixView<'_, f64>, _delta: MatrixViewMut<'_, f64>) {}
}

/// A fresh directory under the system's temporary directory.
#[cfg(feature = "safetensors")]
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("backprop-steer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(feature = "safetensors")]
#[test]
fn the_checkpoint_holds_the_epoch_with_the_lowest_validation_loss() {
    let dir = scratch("best");
    let path = dir.join("best.safetensors");
    let (x, y) = data();
    // Validating against the flipped labels: the validation loss falls, then rises as the model
    // learns the training labels.
    let flipped = y.map(|v| 1.0 - v);
    let mut m = model();
    let mut epochs = Vec::new();
    let fit = Fit::new(12).full().checkpoint(&path);
    let h = m
        .fit_with(
            &x,
            &y,
            Some((&x, &flipped)),
            &mut Sgd::new(2.0).unwrap(),
            &fit,
            &mut |_, model| {
                epochs.push(bits(model));
                Control::Continue
            },
        )
        .unwrap();
    let best = (0..h.val_loss.len())
        .min_by(|&a, &b| h.val_loss[a].total_cmp(&h.val_loss[b]))
        .unwrap();
    assert!(
        best + 1 < h.val_loss.len(),
        "the best epoch is not the last: {h:?}"
    );
    let saved = Sequential::<f64>::load(&path).unwrap();
    assert_eq!(bits(&saved), epochs[best]);
    assert_ne!(bits(&saved), bits(&m));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(all(feature = "safetensors", unix))]
#[test]
fn a_failed_checkpoint_is_an_error_that_keeps_the_file_an_earlier_epoch_wrote() {
    let dir = scratch("fail");
    let (real, gone) = (dir.join("real"), dir.join("gone"));
    std::fs::create_dir(&real).unwrap();
    // The checkpoint goes through a link to a directory, which the callback points elsewhere
    // after the first epoch, so that the next save finds no directory to write in.
    let link = dir.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let (x, y) = (
        DMatrix::from_row_slice(4, 1, &[0., 1., 2., 3.]),
        DMatrix::from_row_slice(4, 1, &[1., 3., 5., 7.]),
    );
    let mut m = Sequential::<f64>::builder(1)
        .dense(1, Identity)
        .build()
        .unwrap();
    let mut first = Vec::new();
    let fit = Fit::new(10)
        .full()
        .checkpoint(link.join("model.safetensors"));
    let err = m
        .fit_with(
            &x,
            &y,
            None,
            &mut Sgd::new(0.05).unwrap(),
            &fit,
            &mut |e, model| {
                if e.epoch == 0 {
                    first = bits(model);
                    std::fs::remove_file(&link).unwrap();
                    std::os::unix::fs::symlink(&gone, &link).unwrap();
                }
                Control::Continue
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    // Epoch 1 improved, tried to save and failed: training ended there.
    let h = m.take_interrupted_history().unwrap();
    assert_eq!(h.loss.len(), 2);
    let saved = Sequential::<f64>::load(real.join("model.safetensors")).unwrap();
    assert_eq!(bits(&saved), first);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "safetensors")]
#[test]
fn a_checkpoint_that_cannot_be_written_is_refused_before_training() {
    let dir = scratch("refused");
    let (x, y) = data();
    let mut m = model();
    let before = bits(&m);
    let fit = Fit::new(2).checkpoint(dir.join("missing").join("model.safetensors"));
    let err = m
        .fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &fit)
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(bits(&m), before);

    // A model with an activation of the user's own cannot be saved: said before any epoch, and
    // the file already at the path is left alone.
    let path = dir.join("model.safetensors");
    std::fs::write(&path, "an earlier checkpoint").unwrap();
    let mut custom = Sequential::<f64>::builder(2)
        .dense(2, Linear)
        .build()
        .unwrap();
    let before = bits(&custom);
    let fit = Fit::new(2).checkpoint(&path);
    let err = custom
        .fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &fit)
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert_eq!(bits(&custom), before);
    assert_eq!(std::fs::read(&path).unwrap(), b"an earlier checkpoint");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- 5. Schedules against PyTorch ----
//
// Printed by tests/golden/schedules.py (torch 2.15.0+cu132 on the CPU, float64): the rate each
// epoch trains with, the scheduler stepped at the end of every epoch.

const LINEAR_WARMUP: [f64; 8] = [
    0.025,
    0.043750000000000004,
    0.06250000000000001,
    0.08125000000000002,
    0.10000000000000002,
    0.10000000000000002,
    0.10000000000000002,
    0.10000000000000002,
];
const LINEAR_DECAY: [f64; 8] = [
    0.3,
    0.246,
    0.192,
    0.138,
    0.08400000000000002,
    0.030000000000000002,
    0.030000000000000002,
    0.030000000000000002,
];
const PLATEAU_LOSSES: [f64; 20] = [
    1.0, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7,
    0.7, 0.7, 0.7,
];
const PLATEAU_FULL: [f64; 20] = [
    0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02,
    0.02, 0.02, 0.02, 0.02, 0.02,
];
const PLATEAU_CONSTANT: [f64; 12] = [
    0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125,
];

/// The rates of `schedule` from `base`, observing `losses` after each epoch.
fn rates(schedule: &dyn Schedule, base: f64, losses: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    for (epoch, &loss) in losses.iter().enumerate() {
        out.push(schedule.learning_rate(base, epoch));
        schedule.observe(epoch, loss);
    }
    out
}

/// Within a few units in the last place: the crate computes LinearLR's closed form, PyTorch's
/// step() a running product.
fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-15 * y.abs())
}

#[test]
fn linear_warm_up_and_decay_match_pytorch() {
    let warmup = rates(&LinearLr::new(0.25, 1.0, 4).unwrap(), 0.1, &[0.0; 8]);
    assert!(close(&warmup, &LINEAR_WARMUP), "{warmup:?}");
    let decay = rates(&LinearLr::new(1.0, 0.1, 5).unwrap(), 0.3, &[0.0; 8]);
    assert!(close(&decay, &LINEAR_DECAY), "{decay:?}");
}

#[test]
fn reduce_on_plateau_matches_pytorch() {
    let plateau = ReduceLrOnPlateau::new(0.5, 1)
        .unwrap()
        .threshold(0.1)
        .unwrap()
        .cooldown(2)
        .min_lr(0.02)
        .unwrap();
    assert_eq!(rates(&plateau, 0.1, &PLATEAU_LOSSES), PLATEAU_FULL);
    // Epoch 0 starts afresh: the same schedule serves a second run.
    assert_eq!(rates(&plateau, 0.1, &PLATEAU_LOSSES), PLATEAU_FULL);
    let constant = ReduceLrOnPlateau::new(0.5, 2).unwrap();
    assert_eq!(rates(&constant, 0.1, &[0.125; 12]), PLATEAU_CONSTANT);
}

#[test]
fn fit_feeds_the_plateau_its_loss_and_trains_at_the_pytorch_rates() {
    // No bias and zero inputs: the network cannot learn, so its loss never moves.
    let (x, y) = (DMatrix::zeros(4, 2), DMatrix::from_element(4, 1, 0.5));
    let mut m = Sequential::<f64>::builder(2)
        .bias(false)
        .dense(1, Identity)
        .build()
        .unwrap();
    let fit = Fit::new(12).schedule(ReduceLrOnPlateau::new(0.5, 2).unwrap());
    let h = m.fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &fit).unwrap();
    assert!(h.loss.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(h.learning_rate, PLATEAU_CONSTANT);

    // LinearLR through fit: the rates of PyTorch's warm-up.
    let fit = Fit::new(8).schedule(LinearLr::new(0.25, 1.0, 4).unwrap());
    let h = m.fit(&x, &y, &mut Sgd::new(0.1).unwrap(), &fit).unwrap();
    assert!(close(&h.learning_rate, &LINEAR_WARMUP), "{h:?}");
}

#[test]
fn the_scheduler_of_a_hand_written_loop_observes_too() {
    let mut sgd = Sgd::<f64>::new(0.1).unwrap();
    let scheduler = LrScheduler::new(ReduceLrOnPlateau::new(0.5, 2).unwrap(), &sgd);
    let mut seen = Vec::new();
    for epoch in 0..12 {
        seen.push(scheduler.apply(&mut sgd, epoch).unwrap());
        scheduler.observe(epoch, 0.125);
    }
    assert_eq!(seen, PLATEAU_CONSTANT);
}

#[test]
fn bad_schedule_settings_are_refused() {
    for (start, end, iters) in [(0.0, 1.0, 4), (1.5, 1.0, 4), (0.5, 1.5, 4), (0.5, -0.1, 4)] {
        let err = LinearLr::new(start, end, iters).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
    }
    assert!(LinearLr::new(f64::NAN, 1.0, 4).is_err());
    assert!(LinearLr::new(0.5, 1.0, 0).is_err());
    for factor in [0.0, 1.0, 2.0, f64::NAN] {
        assert!(ReduceLrOnPlateau::new(factor, 1).is_err(), "{factor}");
    }
    let plateau = || ReduceLrOnPlateau::new(0.5, 1).unwrap();
    assert!(plateau().threshold(-0.1).is_err());
    assert!(plateau().threshold(1.0).is_err());
    assert!(plateau().min_lr(-1.0).is_err());
    assert!(plateau().min_lr(f64::INFINITY).is_err());
}

// ---- 6. Progress per batch ----

#[test]
fn training_with_progress_gives_the_bits_of_training_without() {
    let (x, y) = data();
    let run = |progress: bool| {
        let mut m = model();
        let fit = Fit::new(3).mini_batch(4).shuffle(2).progress(progress);
        let h = m.fit(&x, &y, &mut Sgd::new(0.3).unwrap(), &fit).unwrap();
        (bits(&m), loss_bits(&h))
    };
    assert_eq!(run(true), run(false));
}
