//! Optimizers, learning-rate schedules and gradient clipping against values computed by PyTorch.
//!
//! Every golden constant below was printed by `tests/golden/optim.py`, which runs PyTorch's own
//! `torch.optim` optimizers, `torch.optim.lr_scheduler` schedulers and
//! `torch.nn.utils.clip_grad_norm_` in float64 (torch 2.15.0) on the same parameters and
//! gradients. Regenerate with `python3 tests/golden/optim.py`.

use backprop::optim::{
    ClipGradNorm, CosineAnnealingLr, ExponentialLr, LrScheduler, OptimizerState, Schedule,
    StateTensor, StepLr, global_norm,
};
use backprop::prelude::*;
use nalgebra::DMatrix;

// ----- the problem of tests/golden/optim.py ---------------------------------------------------

/// Initial weights (parameter 0, 2x2) and bias (parameter 1, 1x2), row-major.
const W0: [f64; 4] = [0.5, -1.0, 2.0, 0.0];
const B0: [f64; 2] = [0.25, -0.75];
/// The gradients of steps 1, 2, 3: four weight entries then two bias entries, row-major.
const GRADS: [[f64; 6]; 3] = [
    [0.1, -0.2, 0.3, 0.0, 1.0, -0.5],
    [-0.4, 0.5, 0.0, 2.0, 0.5, 0.25],
    [0.3, 0.1, -0.2, -1.0, -2.0, 0.0],
];

fn params<T: Float>() -> [Matrix<T>; 2] {
    let w: Vec<T> = W0.iter().map(|&v| T::of(v)).collect();
    let b: Vec<T> = B0.iter().map(|&v| T::of(v)).collect();
    [
        DMatrix::from_row_slice(2, 2, &w),
        DMatrix::from_row_slice(1, 2, &b),
    ]
}

fn grads<T: Float>(step: usize) -> [Matrix<T>; 2] {
    let g: Vec<T> = GRADS[step].iter().map(|&v| T::of(v)).collect();
    [
        DMatrix::from_row_slice(2, 2, &g[..4]),
        DMatrix::from_row_slice(1, 2, &g[4..]),
    ]
}

/// The parameters, row-major, as the golden script prints them.
fn flat<T: Float>(p: &[Matrix<T>; 2]) -> [f64; 6] {
    let mut out = [0.0; 6];
    let values = p[0]
        .transpose()
        .iter()
        .chain(p[1].iter())
        .map(|v| v.as_f64())
        .collect::<Vec<_>>();
    out.copy_from_slice(&values);
    out
}

/// One model-style step: `begin_step`, then `update` for parameter 0 and 1 in order.
fn step<T: Float>(opt: &mut dyn Optimizer<T>, p: &mut [Matrix<T>; 2], k: usize) {
    let g = grads::<T>(k);
    opt.begin_step();
    for (i, (value, grad)) in p.iter_mut().zip(&g).enumerate() {
        opt.update(i, value, grad);
    }
}

/// The parameters after each of the three steps.
fn run<T: Float>(opt: &mut dyn Optimizer<T>) -> [[f64; 6]; 3] {
    let mut p = params::<T>();
    let mut out = [[0.0; 6]; 3];
    for (k, row) in out.iter_mut().enumerate() {
        step(opt, &mut p, k);
        *row = flat(&p);
    }
    out
}

/// `|a - e| <= rel * max(|e|, 1)`, or `rel * |e|` when `e` is tiny but not zero.
fn assert_close(actual: &[f64], expected: &[f64], rel: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let tol = rel
            * if *e != 0.0 && e.abs() < 1e-3 {
                e.abs()
            } else {
                e.abs().max(1.0)
            };
        assert!(
            (a - e).abs() <= tol,
            "{what}[{i}]: got {a}, PyTorch gives {e} (difference {:e})",
            (a - e).abs()
        );
    }
}

fn assert_steps(opt: &mut dyn Optimizer<f64>, golden: &[[f64; 6]; 3], name: &str) {
    let got = run(opt);
    for k in 0..3 {
        assert_close(
            &got[k],
            &golden[k],
            1e-12,
            &format!("{name} step {}", k + 1),
        );
    }
}

// ----- golden values printed by tests/golden/optim.py (torch 2.15.0, float64) -----------------

/// Parameters (weights row-major, then bias) after steps 1, 2 and 3; lr per epoch 0..=12 from 0.1;
/// clip_grad_norm_ of step 2's gradients: (norm before clipping, clipped gradients).
#[rustfmt::skip]
mod golden {
    pub const SGD_PLAIN: [[f64; 6]; 3] = [
        [0.49, -0.98, 1.97, 0.0, 0.15, -0.7],
        [0.53, -1.03, 1.97, -0.2, 0.09999999999999999, -0.725],
        [0.5, -1.04, 1.99, -0.1, 0.3, -0.725],
    ];
    pub const SGD_MOMENTUM: [[f64; 6]; 3] = [
        [0.49, -0.98, 1.97, 0.0, 0.15, -0.7],
        [0.521, -1.012, 1.943, -0.2, 0.009999999999999995, -0.6799999999999999],
        [0.5189, -1.0508, 1.9387, -0.28, 0.08399999999999999, -0.6619999999999999],
    ];
    pub const SGD_NESTEROV: [[f64; 6]; 3] = [
        [0.481, -0.962, 1.943, 0.0, 0.06, -0.655],
        [0.5488999999999999, -1.0408, 1.9187, -0.38, -0.11600000000000002, -0.662],
        [0.51701, -1.08572, 1.93483, -0.35200000000000004, 0.15059999999999998, -0.6458],
    ];
    pub const SGD_WEIGHT_DECAY: [[f64; 6]; 3] = [
        [0.485, -0.97, 1.95, 0.0, 0.1475, -0.6925],
        [0.5126499999999999, -0.9953, 1.9055, -0.2, 0.04477499999999999, -0.681825],
        [0.49134849999999997, -1.007997, 1.884195, -0.198, 0.19296475000000002, -0.66966925],
    ];
    pub const RMSPROP_DEFAULT: [[f64; 6]; 3] = [
        [0.40000009999990005, -0.9000000499999751, 1.9000000333333222, 0.0, 0.15000000999999905, -0.650000019999996],
        [0.49704287266865177, -0.9929118010156807, 1.9000000333333222, -0.0999999950000002, 0.10509868852556303, -0.6949013374421751],
        [0.438003435412992, -1.0112703443780078, 1.9558561344878782, -0.05509867150943544, 0.1925726514007255, -0.6949013374421751],
    ];
    pub const RMSPROP_FULL: [[f64; 6]; 3] = [
        [0.3333370369547343, -0.8333351851646092, 1.833334444437037, 0.0, 0.08333387533699074, -0.5833342995113072],
        [0.35003314487227916, -0.8311205360447576, 1.6379889606582263, -0.16666638888935187, -0.13040401969024445, -0.503268317438663],
        [0.2574219081566619, -0.8349505484668632, 1.4943370305227144, -0.22482285268093358, -0.16022213229251459, -0.42447967036389345],
    ];
    pub const ADAGRAD_DEFAULT: [[f64; 6]; 3] = [
        [0.4000000001, -0.90000000005, 1.9000000000333332, 0.0, 0.15000000001, -0.65000000002],
        [0.49701425009100375, -0.9928476691212845, 1.9000000000333332, -0.099999999995, 0.1052786404640042, -0.6947213595619958],
        [0.43817940956108703, -1.0111050877014567, 1.9554700196404715, -0.05527864044700421, 0.19256579655459163, -0.6947213595619958],
    ];
    pub const ADAGRAD_FULL: [[f64; 6]; 3] = [
        [0.4682001310153966, -0.9442915019949683, 1.9254645118609526, 0.0, 0.15834420598691853, -0.6710643127113542],
        [0.5081570187293009, -0.9843979088910153, 1.9070717857864514, -0.06505997311721928, 0.1304208630436734, -0.6872987839740555],
        [0.4825795641446645, -0.9845136239637967, 1.9077374894441668, -0.043018528465668324, 0.17291948533250964, -0.6827422391408855],
    ];
    pub const ADAM_DEFAULT: [[f64; 6]; 3] = [
        [0.400000009999999, -0.9000000049999998, 1.9000000033333333, 0.0, 0.150000001, -0.650000002],
        [0.4559503574851284, -0.944221530217233, 1.8329941810791546, -0.07441368183064559, 0.05678203829816107, -0.6233662987078463],
        [0.4533185317128252, -0.9894992139945569, 1.8253703786185236, -0.0972777192297471, 0.07741774086205683, -0.6027783689874682],
    ];
    pub const ADAM_FULL: [[f64; 6]; 3] = [
        [0.4500000333333111, -0.9500000166666611, 1.950000009999998, 0.0, 0.2000000048780483, -0.7000000086956506],
        [0.47391232296851166, -0.962851117653124, 1.9063666337650353, -0.03918537495740544, 0.1541322837992628, -0.6817063559743602],
        [0.46302878726580243, -0.9724251739953057, 1.875375502829864, -0.04863004854149658, 0.16821674070006334, -0.6645277597825254],
    ];
    pub const ADAMW_DEFAULT: [[f64; 6]; 3] = [
        [0.399500009999999, -0.8990000049999998, 1.8980000033333333, 0.0, 0.14975000099999997, -0.6492500019999999],
        [0.4550508574751284, -0.942322530212233, 1.8290961810758213, -0.07441368183064559, 0.056382288297161035, -0.6219670487058463],
        [0.4519639808453501, -0.9866578914593447, 1.8196432824341144, -0.09720330554791645, 0.07696160857275963, -0.6007571519367623],
    ];
    pub const ADAMW_FULL: [[f64; 6]; 3] = [
        [0.43750004999995, -0.9250000249999875, 1.900000016666661, 0.0, 0.1937500049999995, -0.681250009999998],
        [0.4569838073361862, -0.9266323404821089, 1.8209938020075314, -0.03918537495740544, 0.1431599002659188, -0.6536619100237291],
        [0.44250119946408345, -0.9275848387904738, 1.7762579918980839, -0.047720024178501255, 0.15440901072542249, -0.6296705922224622],
    ];
    pub const STEP_LR: [f64; 13] = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125, 0.00625];
    pub const EXPONENTIAL_LR: [f64; 13] = [0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002, 0.05904900000000002, 0.05314410000000002, 0.04782969000000002, 0.043046721000000024, 0.03874204890000002, 0.03486784401000002, 0.03138105960900001, 0.028242953648100012];
    pub const COSINE_LR: [f64; 13] = [0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599, 0.0505, 0.03520365877844011, 0.02140463001152259, 0.010453658778440109, 0.0034227024433899004, 0.001, 0.0034227024433899004, 0.01045365877844014];
    // CLIP_SHRINK: norm 2.173131381210073
    pub const CLIP_SHRINK: (f64, [f64; 6]) = (2.173131381210073, [-0.18406609899083395, 0.23008262373854244, 0.0, 0.9203304949541697, 0.23008262373854244, 0.11504131186927122]);
    // CLIP_KEEP: norm 2.173131381210073
    pub const CLIP_KEEP: (f64, [f64; 6]) = (2.173131381210073, [-0.4, 0.5, 0.0, 2.0, 0.5, 0.25]);
}
use golden::*;

// ----- the first three steps of every optimizer -------------------------------------------------

#[test]
fn sgd_matches_pytorch() {
    assert_steps(&mut Sgd::new(0.1).unwrap(), &SGD_PLAIN, "SGD");
    assert_steps(
        &mut Sgd::new(0.1).unwrap().momentum(0.9).unwrap(),
        &SGD_MOMENTUM,
        "SGD momentum",
    );
    let mut nesterov = Sgd::new(0.1)
        .unwrap()
        .momentum(0.9)
        .unwrap()
        .nesterov(true)
        .unwrap();
    assert_steps(&mut nesterov, &SGD_NESTEROV, "SGD Nesterov");
    let mut decay = Sgd::new(0.1)
        .unwrap()
        .momentum(0.5)
        .unwrap()
        .weight_decay(0.1)
        .unwrap();
    assert_steps(&mut decay, &SGD_WEIGHT_DECAY, "SGD weight decay");
}

#[test]
fn plain_sgd_is_the_books_update_exactly() {
    // weights -= alpha * weight_delta, in the same floating-point operations.
    let got = run(&mut Sgd::new(0.1).unwrap());
    let mut p: Vec<f64> = W0.iter().chain(&B0).copied().collect();
    for (k, row) in got.iter().enumerate() {
        for (w, g) in p.iter_mut().zip(&GRADS[k]) {
            *w -= 0.1 * g;
        }
        assert_eq!(row.as_slice(), p.as_slice());
    }
}

#[test]
fn rmsprop_matches_pytorch() {
    assert_steps(
        &mut RmsProp::default(),
        &RMSPROP_DEFAULT,
        "RMSprop defaults",
    );
    let mut full = RmsProp::new(0.05).unwrap();
    full = full
        .alpha(0.9)
        .unwrap()
        .eps(1e-6)
        .unwrap()
        .momentum(0.8)
        .unwrap();
    full = full.centered(true).weight_decay(0.1).unwrap();
    assert_steps(&mut full, &RMSPROP_FULL, "RMSprop full");
}

#[test]
fn adagrad_matches_pytorch() {
    assert_steps(&mut Adagrad::new(0.1).unwrap(), &ADAGRAD_DEFAULT, "Adagrad");
    let mut full = Adagrad::new(0.1)
        .unwrap()
        .lr_decay(0.5)
        .unwrap()
        .weight_decay(0.1)
        .unwrap();
    full = full
        .initial_accumulator_value(0.2)
        .unwrap()
        .eps(1e-6)
        .unwrap();
    assert_steps(&mut full, &ADAGRAD_FULL, "Adagrad full");
}

#[test]
fn adam_matches_pytorch() {
    assert_steps(&mut Adam::new(0.1).unwrap(), &ADAM_DEFAULT, "Adam");
    let full = Adam::new(0.05)
        .unwrap()
        .betas(0.8, 0.99)
        .unwrap()
        .eps(1e-7)
        .unwrap();
    assert_steps(
        &mut full.weight_decay(0.1).unwrap(),
        &ADAM_FULL,
        "Adam full",
    );
}

#[test]
fn adamw_matches_pytorch() {
    assert_steps(&mut AdamW::new(0.1).unwrap(), &ADAMW_DEFAULT, "AdamW");
    let full = AdamW::new(0.05)
        .unwrap()
        .betas(0.8, 0.99)
        .unwrap()
        .eps(1e-7)
        .unwrap();
    assert_steps(
        &mut full.weight_decay(0.5).unwrap(),
        &ADAMW_FULL,
        "AdamW full",
    );
}

#[test]
fn f32_optimizers_follow_the_same_rule() {
    // f32 rounding: agreement to about 1e-6 of the float64 values.
    type Case = (Box<dyn Optimizer<f32>>, [[f64; 6]; 3]);
    let cases: Vec<Case> = vec![
        (
            Box::new(Sgd::new(0.1).unwrap().momentum(0.9).unwrap()),
            SGD_MOMENTUM,
        ),
        (Box::new(RmsProp::default()), RMSPROP_DEFAULT),
        (Box::new(Adagrad::new(0.1).unwrap()), ADAGRAD_DEFAULT),
        (Box::new(Adam::new(0.1).unwrap()), ADAM_DEFAULT),
        (Box::new(AdamW::new(0.1).unwrap()), ADAMW_DEFAULT),
    ];
    for (mut opt, golden) in cases {
        let got = run(opt.as_mut());
        for k in 0..3 {
            assert_close(
                &got[k],
                &golden[k],
                2e-6,
                &format!("{opt:?} f32 step {}", k + 1),
            );
        }
    }
}

#[test]
fn pytorch_defaults() {
    // torch.optim defaults: RMSprop lr 0.01, Adagrad lr 0.01, Adam/AdamW lr 0.001.
    assert_eq!(Optimizer::<f64>::learning_rate(&RmsProp::default()), 0.01);
    assert_eq!(Optimizer::<f64>::learning_rate(&Adagrad::default()), 0.01);
    assert_eq!(Optimizer::<f64>::learning_rate(&Adam::default()), 0.001);
    assert_eq!(Optimizer::<f64>::learning_rate(&AdamW::default()), 0.001);
    // The defaults behave like the explicit PyTorch settings.
    let explicit = RmsProp::new(0.01)
        .unwrap()
        .alpha(0.99)
        .unwrap()
        .eps(1e-8)
        .unwrap();
    assert_eq!(
        run::<f64>(&mut RmsProp::default()),
        run(&mut explicit.clone())
    );
    let explicit = Adam::new(0.001)
        .unwrap()
        .betas(0.9, 0.999)
        .unwrap()
        .eps(1e-8)
        .unwrap();
    assert_eq!(run::<f64>(&mut Adam::default()), run(&mut explicit.clone()));
    let explicit = AdamW::new(0.001).unwrap().weight_decay(0.01).unwrap();
    assert_eq!(
        run::<f64>(&mut AdamW::default()),
        run(&mut explicit.clone())
    );
}

// ----- state: lazily created, read, reset, restored ---------------------------------------------

fn all_optimizers() -> Vec<Box<dyn Optimizer<f64>>> {
    vec![
        Box::new(Sgd::new(0.1).unwrap()),
        Box::new(
            Sgd::new(0.1)
                .unwrap()
                .momentum(0.9)
                .unwrap()
                .nesterov(true)
                .unwrap(),
        ),
        Box::new(RmsProp::default()),
        Box::new(
            RmsProp::new(0.05)
                .unwrap()
                .momentum(0.8)
                .unwrap()
                .centered(true),
        ),
        Box::new(
            Adagrad::new(0.1)
                .unwrap()
                .initial_accumulator_value(0.2)
                .unwrap(),
        ),
        Box::new(Adam::new(0.1).unwrap()),
        Box::new(AdamW::new(0.1).unwrap()),
    ]
}

#[test]
fn state_names_follow_pytorch() {
    let expect: [&[&str]; 7] = [
        &[],
        &["momentum_buffer"],
        &["square_avg"],
        &["square_avg", "momentum_buffer", "grad_avg"],
        &["sum"],
        &["exp_avg", "exp_avg_sq"],
        &["exp_avg", "exp_avg_sq"],
    ];
    for (mut opt, names) in all_optimizers().into_iter().zip(expect) {
        run(opt.as_mut());
        let state = opt.state();
        assert_eq!(state.step, 3, "{opt:?}");
        let got: Vec<(usize, &str)> = state
            .tensors
            .iter()
            .map(|t| (t.index, t.name.as_str()))
            .collect();
        let want: Vec<(usize, &str)> = (0..2)
            .flat_map(|i| names.iter().map(move |n| (i, *n)))
            .collect();
        assert_eq!(got, want, "{opt:?}");
        assert_eq!(state.get(0, "nothing"), None);
        for t in &state.tensors {
            assert_eq!(t.value.shape(), if t.index == 0 { (2, 2) } else { (1, 2) });
        }
    }
}

#[test]
fn adam_state_values_follow_the_rule() {
    // After step 1: exp_avg = 0.1 * g1, exp_avg_sq = 0.001 * g1^2 (zero start, beta 0.9/0.999).
    let mut adam = Adam::new(0.1).unwrap();
    let mut p = params::<f64>();
    step(&mut adam, &mut p, 0);
    let state = adam.state();
    let m = state.get(1, "exp_avg").unwrap();
    let v = state.get(1, "exp_avg_sq").unwrap();
    assert!((m[(0, 0)] - 0.1 * 1.0).abs() < 1e-15 && (m[(0, 1)] - 0.1 * -0.5).abs() < 1e-15);
    assert!((v[(0, 0)] - 0.001 * 1.0).abs() < 1e-15 && (v[(0, 1)] - 0.001 * 0.25).abs() < 1e-15);
}

#[test]
fn state_is_created_lazily_at_the_first_update() {
    for mut opt in all_optimizers() {
        assert_eq!(opt.state(), OptimizerState::default(), "{opt:?}");
        opt.begin_step();
        assert!(
            opt.state().tensors.is_empty(),
            "{opt:?}: begin_step must not allocate"
        );
        assert_eq!(opt.state().step, 1);
        // Only parameter 1 has been seen: only its buffers exist.
        let mut b = DMatrix::from_element(1, 3, 1.0);
        opt.update(1, &mut b, &DMatrix::from_element(1, 3, 0.5));
        assert!(opt.state().tensors.iter().all(|t| t.index == 1), "{opt:?}");
    }
}

#[test]
fn restoring_a_snapshot_repeats_a_step_bit_for_bit() {
    for mut opt in all_optimizers() {
        let mut p = params::<f64>();
        step(opt.as_mut(), &mut p, 0);
        step(opt.as_mut(), &mut p, 1);
        let (snapshot, weights) = (opt.state(), p.clone());
        step(opt.as_mut(), &mut p, 2);
        let (first, first_state) = (p.clone(), opt.state());
        assert_ne!(
            first_state, snapshot,
            "{opt:?}: the step must change something"
        );

        opt.load_state(&snapshot).unwrap();
        assert_eq!(opt.state(), snapshot, "{opt:?}");
        let mut p = weights;
        step(opt.as_mut(), &mut p, 2);
        assert_eq!(p, first, "{opt:?}: weights after the repeated step");
        assert_eq!(
            opt.state(),
            first_state,
            "{opt:?}: state after the repeated step"
        );
    }
}

#[test]
fn state_restores_into_a_fresh_optimizer() {
    // A state taken from one optimizer continues in a new one of the same settings.
    let mut a = Adam::new(0.1).unwrap();
    let mut p = params::<f64>();
    step(&mut a, &mut p, 0);
    let mut b = Adam::new(0.1).unwrap();
    b.load_state(&a.state()).unwrap();
    let mut q = p.clone();
    step(&mut a, &mut p, 1);
    step(&mut b, &mut q, 1);
    assert_eq!(p, q);
}

#[test]
fn reset_forgets_everything() {
    for (mut opt, golden) in all_optimizers().into_iter().zip([
        None,
        Some(SGD_NESTEROV),
        Some(RMSPROP_DEFAULT),
        None,
        None,
        Some(ADAM_DEFAULT),
        Some(ADAMW_DEFAULT),
    ]) {
        let before = run(opt.as_mut());
        opt.reset();
        assert_eq!(opt.state(), OptimizerState::default(), "{opt:?}");
        // Running again from scratch gives the same three steps as the first time.
        assert_eq!(run(opt.as_mut()), before, "{opt:?}");
        if let Some(golden) = golden {
            assert_close(&before[2], &golden[2], 1e-12, &format!("{opt:?}"));
        }
    }
}

fn tensor(index: usize, name: &str, value: DMatrix<f64>) -> StateTensor<f64> {
    StateTensor {
        index,
        name: name.to_string(),
        value,
    }
}

#[test]
fn bad_states_are_rejected_and_change_nothing() {
    let mut adam = Adam::new(0.1).unwrap();
    let mut p = params::<f64>();
    step(&mut adam, &mut p, 0);
    let before = adam.state();
    let z = || DMatrix::<f64>::zeros(1, 2);
    let bad = [
        // a buffer Adam does not keep
        vec![tensor(0, "momentum_buffer", z())],
        // only one of the two moments
        vec![tensor(0, "exp_avg", z())],
        // the same buffer twice
        vec![
            tensor(0, "exp_avg", z()),
            tensor(0, "exp_avg", z()),
            tensor(0, "exp_avg_sq", z()),
        ],
        // moments of different shapes
        vec![
            tensor(0, "exp_avg", z()),
            tensor(0, "exp_avg_sq", DMatrix::zeros(2, 1)),
        ],
    ];
    for tensors in bad {
        let err = adam
            .load_state(&OptimizerState { step: 7, tensors })
            .unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err:?}");
        assert_eq!(adam.state(), before);
    }
    let nan = DMatrix::from_row_slice(1, 2, &[0.0, f64::NAN]);
    let err = adam
        .load_state(&OptimizerState {
            step: 7,
            tensors: vec![tensor(0, "exp_avg", z()), tensor(0, "exp_avg_sq", nan)],
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::NonFinite { row: 0, col: 1, .. }),
        "{err:?}"
    );
    assert_eq!(adam.state(), before);

    // Stateless SGD accepts only a state without buffers.
    let mut sgd = Sgd::new(0.1).unwrap();
    assert!(
        sgd.load_state(&OptimizerState {
            step: 2,
            tensors: vec![]
        })
        .is_ok()
    );
    assert_eq!(sgd.state().step, 2);
    assert!(sgd.load_state(&before).is_err());
}

#[test]
fn state_shapes_are_checked_against_the_parameters() {
    let mut opt = Sgd::new(0.1).unwrap().momentum(0.9).unwrap();
    run(&mut opt);
    let state = opt.state();
    assert!(state.check_shapes(&[(2, 2), (1, 2)]).is_ok());
    let err = state.check_shapes(&[(2, 2), (2, 1)]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Shape {
                expected: (2, 1),
                actual: (1, 2),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        state.check_shapes(&[(2, 2)]),
        Err(Error::Format { .. })
    ));
}

#[test]
fn changing_the_buffer_layout_forgets_the_state() {
    let mut sgd = Sgd::new(0.1).unwrap().momentum(0.9).unwrap();
    run(&mut sgd);
    assert!(!sgd.state().tensors.is_empty());
    let sgd = sgd.momentum(0.0).unwrap();
    assert_eq!(sgd.state(), OptimizerState::default());
}

// ----- learning rate and hyperparameter validation -----------------------------------------------

#[test]
fn learning_rate_can_be_read_and_set() {
    for mut opt in all_optimizers() {
        opt.set_learning_rate(0.25).unwrap();
        assert_eq!(opt.learning_rate(), 0.25);
        opt.set_learning_rate(0.0).unwrap(); // a cosine schedule reaches 0
        assert_eq!(opt.learning_rate(), 0.0);
        for bad in [-0.1, f64::NAN, f64::INFINITY] {
            let err = opt.set_learning_rate(bad).unwrap_err();
            assert!(matches!(
                err,
                Error::InvalidParameter {
                    name: "learning rate",
                    ..
                }
            ));
            assert_eq!(
                opt.learning_rate(),
                0.0,
                "{opt:?}: a rejected rate changes nothing"
            );
        }
    }
}

#[test]
fn a_new_learning_rate_applies_from_the_next_step() {
    // Halving the rate after one SGD step halves the second step.
    let mut sgd = Sgd::new(0.1).unwrap();
    let mut p = params::<f64>();
    step(&mut sgd, &mut p, 0);
    let before = flat(&p);
    sgd.set_learning_rate(0.05).unwrap();
    step(&mut sgd, &mut p, 1);
    for ((a, b), g) in flat(&p).iter().zip(before).zip(GRADS[1]) {
        assert_eq!(*a, b - 0.05 * g);
    }
}

fn is_invalid<T: std::fmt::Debug>(r: Result<T>) -> bool {
    matches!(r, Err(Error::InvalidParameter { .. }))
}

#[test]
fn invalid_hyperparameters_are_rejected_when_built() {
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    for lr in [-1.0, nan, inf, -inf] {
        assert!(is_invalid(Sgd::new(lr)));
        assert!(is_invalid(RmsProp::new(lr)));
        assert!(is_invalid(Adagrad::new(lr)));
        assert!(is_invalid(Adam::new(lr)));
        assert!(is_invalid(AdamW::new(lr)));
    }
    let sgd = || Sgd::<f64>::new(0.1).unwrap();
    for mu in [-0.1, 1.0, 1.5, nan] {
        assert!(is_invalid(sgd().momentum(mu)), "momentum {mu}");
        assert!(
            is_invalid(RmsProp::<f64>::default().momentum(mu)),
            "momentum {mu}"
        );
    }
    assert!(
        is_invalid(sgd().nesterov(true)),
        "Nesterov without momentum"
    );
    let nesterov = sgd().momentum(0.9).unwrap().nesterov(true).unwrap();
    assert!(
        is_invalid(nesterov.momentum(0.0)),
        "momentum switched off under Nesterov"
    );
    assert!(sgd().nesterov(false).is_ok());
    for lambda in [-0.1, nan, inf] {
        assert!(is_invalid(sgd().weight_decay(lambda)));
        assert!(is_invalid(RmsProp::<f64>::default().weight_decay(lambda)));
        assert!(is_invalid(Adagrad::<f64>::default().weight_decay(lambda)));
        assert!(is_invalid(Adagrad::<f64>::default().lr_decay(lambda)));
        assert!(is_invalid(
            Adagrad::<f64>::default().initial_accumulator_value(lambda)
        ));
        assert!(is_invalid(Adam::<f64>::default().weight_decay(lambda)));
        assert!(is_invalid(AdamW::<f64>::default().weight_decay(lambda)));
    }
    for eps in [0.0, -1e-8, nan, inf] {
        assert!(is_invalid(RmsProp::<f64>::default().eps(eps)));
        assert!(is_invalid(Adagrad::<f64>::default().eps(eps)));
        assert!(is_invalid(Adam::<f64>::default().eps(eps)));
        assert!(is_invalid(AdamW::<f64>::default().eps(eps)));
    }
    for beta in [-0.1, 1.0, nan] {
        assert!(is_invalid(RmsProp::<f64>::default().alpha(beta)));
        assert!(is_invalid(Adam::<f64>::default().betas(beta, 0.999)));
        assert!(is_invalid(Adam::<f64>::default().betas(0.9, beta)));
        assert!(is_invalid(AdamW::<f64>::default().betas(0.9, beta)));
    }
    // The error names the setting.
    let err = Adam::<f64>::default().betas(0.9, 1.0).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { name: "beta2", value, .. } if value == 1.0));
}

// ----- learning-rate schedules -------------------------------------------------------------------

#[test]
fn schedules_match_pytorch_schedulers() {
    let step = StepLr::new(3, 0.5).unwrap();
    let exp = ExponentialLr::new(0.9).unwrap();
    let cos = CosineAnnealingLr::new(10, 0.001).unwrap();
    let cases: [(&dyn Schedule, [f64; 13], &str); 3] = [
        (&step, STEP_LR, "StepLR"),
        (&exp, EXPONENTIAL_LR, "ExponentialLR"),
        (&cos, COSINE_LR, "CosineAnnealingLR"),
    ];
    for (schedule, golden, name) in cases {
        let got: Vec<f64> = (0..13).map(|e| schedule.learning_rate(0.1, e)).collect();
        assert_close(&got, &golden, 1e-12, name);
    }
}

#[test]
fn schedules_follow_their_closed_forms() {
    let step = StepLr::new(4, 0.1).unwrap();
    for (e, k) in [(0, 0), (3, 0), (4, 1), (7, 1), (8, 2), (100, 25)] {
        let expected = 2.0 * 0.1f64.powi(k);
        assert_close(
            &[step.learning_rate(2.0, e)],
            &[expected],
            1e-14,
            &format!("epoch {e}"),
        );
    }
    let exp = ExponentialLr::new(0.5).unwrap();
    assert_eq!(exp.learning_rate(1.0, 0), 1.0);
    assert_eq!(exp.learning_rate(1.0, 10), 1.0 / 1024.0);
    let cos = CosineAnnealingLr::new(8, 0.0).unwrap();
    assert_eq!(cos.learning_rate(0.2, 0), 0.2);
    assert!((cos.learning_rate(0.2, 4) - 0.1).abs() < 1e-16); // halfway: the midpoint
    assert!(cos.learning_rate(0.2, 8).abs() < 1e-16); // t_max: eta_min
    assert!(
        (cos.learning_rate(0.2, 2) - 0.1 * (1.0 + (std::f64::consts::PI / 4.0).cos())).abs()
            < 1e-16
    );
    // Monotone down to t_max.
    for e in 0..8 {
        assert!(cos.learning_rate(0.2, e + 1) < cos.learning_rate(0.2, e));
    }
}

#[test]
fn scheduler_sets_the_optimizer_rate() {
    let mut adam = Adam::new(0.1).unwrap();
    let scheduler = LrScheduler::new(CosineAnnealingLr::new(10, 0.001).unwrap(), &adam);
    assert_eq!(scheduler.base_lr(), 0.1);
    for (e, golden) in COSINE_LR.into_iter().enumerate() {
        let lr = scheduler.apply(&mut adam, e).unwrap();
        assert_eq!(lr, adam.learning_rate());
        assert_close(&[lr], &[golden], 1e-12, "scheduled Adam");
    }
    // The state survives a rate change.
    let mut p = params::<f64>();
    step(&mut adam, &mut p, 0);
    let state = adam.state();
    scheduler.apply(&mut adam, 3).unwrap();
    assert_eq!(adam.state(), state);
}

#[test]
fn scheduler_reports_a_rate_the_optimizer_rejects() {
    // 10^400 overflows to infinity: rejected, and the optimizer keeps its rate.
    let mut sgd = Sgd::new(1.0).unwrap();
    let scheduler = LrScheduler::new(ExponentialLr::new(10.0).unwrap(), &sgd);
    assert!(is_invalid(scheduler.apply(&mut sgd, 400)));
    assert_eq!(sgd.learning_rate(), 1.0);
}

#[test]
fn invalid_schedules_are_rejected() {
    assert!(is_invalid(StepLr::new(0, 0.5)));
    for gamma in [0.0, -0.5, f64::NAN, f64::INFINITY] {
        assert!(is_invalid(StepLr::new(2, gamma)));
        assert!(is_invalid(ExponentialLr::new(gamma)));
    }
    assert!(is_invalid(CosineAnnealingLr::new(0, 0.0)));
    assert!(is_invalid(CosineAnnealingLr::new(10, -1.0)));
    assert!(is_invalid(CosineAnnealingLr::new(10, f64::NAN)));
}

// ----- gradient clipping by global norm ----------------------------------------------------------

#[test]
fn clipping_matches_clip_grad_norm() {
    for (max_norm, (norm, golden)) in [(1.0, CLIP_SHRINK), (10.0, CLIP_KEEP)] {
        let [mut w, mut b] = grads::<f64>(1);
        let clip = ClipGradNorm::new(max_norm).unwrap();
        let done = clip.apply(&mut [&mut w, &mut b]).unwrap();
        assert_close(&[done.norm], &[norm], 1e-14, "norm");
        assert_close(&flat(&[w, b]), &golden, 1e-14, "clipped gradients");
        assert_eq!(done.scale == 1.0, max_norm == 10.0);
    }
}

#[test]
fn clipping_keeps_the_direction_and_limits_the_length() {
    let [mut w, mut b] = grads::<f64>(1);
    let (w0, b0) = (w.clone(), b.clone());
    let clip = ClipGradNorm::new(0.5).unwrap();
    let done = clip.apply(&mut [&mut w, &mut b]).unwrap();
    // norm = sqrt(0.16 + 0.25 + 0 + 4 + 0.25 + 0.0625)
    assert!((done.norm - 4.7225f64.sqrt()).abs() < 1e-15);
    assert!((done.scale - 0.5 / (4.7225f64.sqrt() + 1e-6)).abs() < 1e-15);
    assert!((global_norm([&w, &b]) - 0.5).abs() < 1e-6);
    assert_eq!(w, w0 * done.scale);
    assert_eq!(b, b0 * done.scale);
    // The two-step form a model uses gives the same factor.
    assert_eq!(
        clip.scale(global_norm([&grads::<f64>(1)[0], &grads::<f64>(1)[1]]))
            .unwrap(),
        done.scale
    );
}

#[test]
fn clipping_rejects_non_finite_gradients_and_bad_limits() {
    let mut w = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, f64::INFINITY, 3.0]);
    let mut b = DMatrix::from_element(1, 2, 100.0);
    let (w0, b0) = (w.clone(), b.clone());
    let err = ClipGradNorm::new(1.0)
        .unwrap()
        .apply(&mut [&mut b, &mut w])
        .unwrap_err();
    assert!(
        matches!(&err, Error::NonFinite { what, row: 1, col: 0, .. } if what == "gradient 1"),
        "{err:?}"
    );
    assert_eq!((w, b), (w0, b0), "nothing is scaled");
    assert!(ClipGradNorm::new(1.0f64).unwrap().scale(f64::NAN).is_err());
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(is_invalid(ClipGradNorm::new(bad)));
    }
}

#[test]
fn f32_clipping_sums_without_overflow() {
    // Each square overflows f32 (1e20^2 = 1e40); the norm does not.
    let mut g = DMatrix::from_element(1, 4, 1e20_f32);
    let done = ClipGradNorm::new(1.0f32)
        .unwrap()
        .apply(&mut [&mut g])
        .unwrap();
    assert!((done.norm / 2e20 - 1.0).abs() < 1e-6);
    assert!((global_norm([&g]) - 1.0).abs() < 1e-5);
}

// ----- with a model ---------------------------------------------------------------------------

#[test]
fn every_optimizer_trains_a_model() {
    // y = 2x - 1 on four points; each optimizer must bring the loss well down.
    let x = DMatrix::from_column_slice(4, 1, &[-1.0, 0.0, 1.0, 2.0]);
    let y = x.map(|v| 2.0 * v - 1.0);
    let optimizers: Vec<Box<dyn Optimizer<f64>>> = vec![
        Box::new(Sgd::new(0.05).unwrap().momentum(0.9).unwrap()),
        Box::new(RmsProp::new(0.05).unwrap()),
        Box::new(Adagrad::new(0.5).unwrap()),
        Box::new(Adam::new(0.1).unwrap()),
        Box::new(AdamW::new(0.1).unwrap().weight_decay(0.0).unwrap()),
    ];
    for mut opt in optimizers {
        let mut model = Sequential::<f64>::builder(1)
            .seed(3)
            .dense(1, Identity)
            .build()
            .unwrap();
        let first = model.step(&x, &y, opt.as_mut()).unwrap();
        let mut last = first;
        for _ in 0..300 {
            last = model.step(&x, &y, opt.as_mut()).unwrap();
        }
        assert!(
            last < 1e-3 * first.max(1.0),
            "{opt:?}: loss {first} -> {last}"
        );
        // The model numbers its parameters 0 (weights) and 1 (bias).
        let state = opt.state();
        assert_eq!(state.step, 301);
        assert!(state.tensors.iter().all(|t| t.index < 2));
        assert!(state.check_shapes(&[(1, 1), (1, 1)]).is_ok());
    }
}

#[test]
fn a_starting_learning_rate_must_be_positive_but_a_schedule_may_reach_zero() {
    for lr in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        assert!(Sgd::<f64>::new(lr).is_err(), "Sgd {lr}");
        assert!(Adam::<f64>::new(lr).is_err(), "Adam {lr}");
        assert!(AdamW::<f64>::new(lr).is_err(), "AdamW {lr}");
        assert!(RmsProp::<f64>::new(lr).is_err(), "RmsProp {lr}");
        assert!(Adagrad::<f64>::new(lr).is_err(), "Adagrad {lr}");
    }
    // A cosine schedule ends at eta_min = 0: setting the rate to 0 later is allowed.
    let mut sgd = Sgd::<f64>::new(0.1).unwrap();
    sgd.set_learning_rate(0.0).unwrap();
    assert_eq!(sgd.learning_rate(), 0.0);
    assert!(sgd.set_learning_rate(-1.0).is_err());
}

#[test]
fn long_parameters_shared_between_threads_get_the_same_update_as_short_ones() {
    use backprop::AdamW;
    // 100 003 entries: long enough to be split between the product threads; the same values as
    // 101 short parameters, each updated on the calling thread, must give the same bits.
    let n = 100_003;
    let mut rng = NumpyRng::new(5);
    let w0: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let grads: Vec<Vec<f32>> = (0..3)
        .map(|_| (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect())
        .collect();
    let mut long = AdamW::<f32>::new(0.01).unwrap();
    let mut short = AdamW::<f32>::new(0.01).unwrap();
    let mut w_long = DMatrix::from_row_slice(1, n, &w0);
    let mut w_short: Vec<DMatrix<f32>> = w0
        .chunks(1000)
        .map(|c| DMatrix::from_row_slice(1, c.len(), c))
        .collect();
    for g in &grads {
        long.begin_step();
        short.begin_step();
        long.update(0, &mut w_long, &DMatrix::from_row_slice(1, n, g));
        for (k, (w, g)) in w_short.iter_mut().zip(g.chunks(1000)).enumerate() {
            short.update(k, w, &DMatrix::from_row_slice(1, g.len(), g));
        }
    }
    let joined: Vec<u32> = w_short
        .iter()
        .flat_map(|w| w.iter().map(|v| v.to_bits()))
        .collect();
    let whole: Vec<u32> = w_long.iter().map(|v| v.to_bits()).collect();
    assert_eq!(whole, joined);
    assert!(
        w_long.iter().zip(&w0).all(|(a, b)| a != b),
        "every weight moved"
    );
}
