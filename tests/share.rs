//! A model you can share: prediction through `&self` from several threads, and clones that train
//! like the original.

use std::sync::Arc;

use backprop::layer::Dropout;
use backprop::model::Workspace;
use backprop::prelude::*;
use nalgebra::DMatrix;

/// A 784-64-32-10 network with a dropout layer (the identity when predicting), f32.
fn model(seed: u32) -> Sequential<f32> {
    Sequential::<f32>::builder(784)
        .seed(seed)
        .dense(64, Relu)
        .dropout(0.3)
        .dense(32, Tanh)
        .dense(10, Softmax)
        .loss(CategoricalCrossEntropy)
        .build()
        .unwrap()
}

/// `rows x cols` values in [0, 1) from a seeded generator.
fn inputs(rows: usize, cols: usize, seed: u32) -> DMatrix<f32> {
    let mut rng = NumpyRng::new(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.random() as f32)
}

fn bits(m: &DMatrix<f32>) -> Vec<u32> {
    m.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn sequential_is_send_sync_and_clone() {
    fn shareable<M: Send + Sync + Clone + 'static>() {}
    shareable::<Sequential<f32>>();
    shareable::<Sequential<f64>>();
}

#[test]
fn threads_sharing_one_model_predict_the_bits_of_one_thread() {
    let model = Arc::new(model(3));
    // 2500 rows: more than one chunk of the forward pass.
    let x = Arc::new(inputs(2500, 784, 4));
    let alone = model.predict(&x).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (model, x) = (Arc::clone(&model), Arc::clone(&x));
            std::thread::spawn(move || {
                let mut ws = Workspace::new();
                let mut out = DMatrix::zeros(x.nrows(), 10);
                // Each thread predicts several times, the threads interleaving.
                for _ in 0..3 + t {
                    model.predict_into(&x, &mut out, &mut ws).unwrap();
                }
                out
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(bits(&handle.join().unwrap()), bits(&alone));
    }
    // Every row is a distribution over the ten classes.
    for row in alone.row_iter() {
        assert!((row.sum() - 1.0).abs() < 1e-5, "{row}");
    }
}

#[test]
fn predicting_leaves_the_training_state_alone() {
    let mut model = model(5);
    let (x, y) = (
        inputs(8, 784, 6),
        DMatrix::from_fn(8, 1, |r, _| (r % 10) as f32),
    );
    model.step(&x, &y, &mut Sgd::new(0.1).unwrap()).unwrap();
    let layer_1 = model.layer_output(1).unwrap().clone_owned();
    let delta = model.delta(0).unwrap().clone_owned();
    model.predict(&inputs(3, 784, 7)).unwrap();
    model.evaluate(&x, &y).unwrap();
    assert_eq!(model.layer_output(1).unwrap(), layer_1);
    assert_eq!(model.delta(0).unwrap(), delta);
}

#[test]
fn a_clone_trains_to_the_same_bits_and_apart_from_the_original() {
    let x = inputs(64, 784, 8);
    let y = DMatrix::from_fn(64, 1, |r, _| ((r * 7) % 10) as f32);
    let fit = Fit::new(2).mini_batch(16).shuffle(9);
    let mut original = model(10);
    let mut copy = original.clone();
    let (mut a, mut b) = (Adam::new(1e-3).unwrap(), Adam::new(1e-3).unwrap());
    let ha = original.fit(&x, &y, &mut a, &fit).unwrap();
    let hb = copy.fit(&x, &y, &mut b, &fit).unwrap();
    assert_eq!(ha, hb);
    for ((_, _, p), (_, _, q)) in original.params().into_iter().zip(copy.params()) {
        assert_eq!(bits(p), bits(q));
    }
    // Training the copy further leaves the original as it was.
    let before: Vec<Vec<u32>> = original.params().iter().map(|(_, _, p)| bits(p)).collect();
    copy.fit(&x, &y, &mut b, &Fit::new(1)).unwrap();
    let after: Vec<Vec<u32>> = original.params().iter().map(|(_, _, p)| bits(p)).collect();
    assert_eq!(before, after);
    assert_ne!(
        bits(copy.weights(0).unwrap()),
        bits(original.weights(0).unwrap())
    );
}

#[test]
fn dropout_predicts_as_the_identity_even_in_training_mode() {
    let layer = Dropout::<f64>::new(4, 0.5, 1).unwrap();
    assert!(layer.is_training());
    let input = DMatrix::from_fn(3, 4, |r, c| (r * 4 + c) as f64 + 1.0);
    let mut output = DMatrix::zeros(3, 4);
    layer.forward(input.as_view(), output.as_view_mut());
    assert_eq!(output, input);
}

#[test]
fn predict_into_refuses_an_output_of_the_wrong_shape_and_leaves_it() {
    let model = model(11);
    let x = inputs(4, 784, 12);
    let mut out = DMatrix::from_element(3, 10, 7.0f32);
    let err = model
        .predict_into(&x, &mut out, &mut Workspace::new())
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert!(out.iter().all(|&v| v == 7.0));
}
