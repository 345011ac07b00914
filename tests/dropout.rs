//! Dropout: inverted scaling keeps the expected activation, inference is the identity, the mask
//! is seeded, and the backward pass uses the same mask.

use backprop::layer::Dropout;
use backprop::prelude::*;
use nalgebra::DMatrix;

#[test]
fn training_keeps_the_mean_activation_and_drops_about_p() {
    let (rows, width, p) = (200, 100, 0.3);
    let mut layer = Dropout::<f64>::new(width, p, 7).unwrap();
    let input = DMatrix::from_element(rows, width, 1.0);
    let mut output = DMatrix::zeros(rows, width);
    layer.forward_train(input.as_view(), output.as_view_mut());
    let n = (rows * width) as f64;
    // Each output is 1/(1-p) with probability 1-p, else 0: mean 1, variance p/(1-p).
    let mean = output.sum() / n;
    let se = (p / (1.0 - p) / n).sqrt();
    assert!(
        (mean - 1.0).abs() < 5.0 * se,
        "mean {mean}, 5 standard errors {}",
        5.0 * se
    );
    let dropped = output.iter().filter(|&&v| v == 0.0).count() as f64 / n;
    let se_p = (p * (1.0 - p) / n).sqrt();
    assert!((dropped - p).abs() < 5.0 * se_p, "dropped {dropped}");
    assert!(output.iter().all(|&v| v == 0.0 || v == 1.0 / (1.0 - p)));
}

#[test]
fn inference_is_the_identity() {
    let mut layer = Dropout::<f32>::new(5, 0.5, 1).unwrap();
    layer.set_training(false);
    let input = DMatrix::from_fn(3, 5, |r, c| (r * 5 + c) as f32 - 4.0);
    let mut output = DMatrix::zeros(3, 5);
    layer.forward_train(input.as_view(), output.as_view_mut());
    assert_eq!(output, input);
    let mut grad = DMatrix::zeros(3, 5);
    layer.backward(input.as_view(), input.as_view(), Some(grad.as_view_mut()));
    assert_eq!(grad, input);
}

#[test]
fn the_backward_pass_uses_the_forward_mask() {
    let mut layer = Dropout::<f64>::new(6, 0.4, 3).unwrap();
    let input = DMatrix::from_fn(4, 6, |r, c| 1.0 + (r + c) as f64);
    let mut output = DMatrix::zeros(4, 6);
    layer.forward_train(input.as_view(), output.as_view_mut());
    let delta = DMatrix::from_fn(4, 6, |r, c| 0.5 - (r * c) as f64);
    let mut grad = DMatrix::zeros(4, 6);
    layer.backward(input.as_view(), delta.as_view(), Some(grad.as_view_mut()));
    // The layer is linear for a fixed mask: d(out)/d(in) = out / in, element by element.
    for r in 0..4 {
        for c in 0..6 {
            assert_eq!(
                grad[(r, c)],
                delta[(r, c)] * (output[(r, c)] / input[(r, c)])
            );
        }
    }
    assert_eq!(
        layer.mask().unwrap().clone_owned(),
        output.component_div(&input)
    );
}

#[test]
fn masks_are_seeded() {
    let run = |seed: u32| {
        let mut layer = Dropout::<f64>::new(10, 0.5, seed).unwrap();
        let mut out = DMatrix::zeros(8, 10);
        layer.forward_train(
            DMatrix::from_element(8, 10, 1.0).as_view(),
            out.as_view_mut(),
        );
        out
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn a_model_drops_while_training_and_not_when_predicting() {
    let build = || {
        Sequential::<f64>::builder(3)
            .seed(2)
            .dense(32, Relu)
            .dropout(0.5)
            .dense(1, Sigmoid)
            .loss(BinaryCrossEntropy)
            .build()
            .unwrap()
    };
    let x = DMatrix::from_row_slice(4, 3, &[1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1.]);
    let y = DMatrix::from_column_slice(4, 1, &[1., 1., 0., 0.]);
    let mut model = build();
    // Training mode: two forward passes see different masks.
    let a = model.forward(&x).unwrap().clone_owned();
    let b = model.forward(&x).unwrap().clone_owned();
    assert_ne!(a, b);
    // Inference: deterministic and equal to the model without dropout's scaling.
    let p1 = model.predict(&x).unwrap();
    assert_eq!(p1, model.predict(&x).unwrap());
    // One seed makes a whole run, dropout masks included, reproducible.
    let mut m1 = build();
    let mut m2 = build();
    let fit = Fit::new(20).mini_batch(2);
    m1.fit(&x, &y, &mut Sgd::new(0.5).unwrap(), &fit).unwrap();
    m2.fit(&x, &y, &mut Sgd::new(0.5).unwrap(), &fit).unwrap();
    assert_eq!(m1.params(), m2.params());
    // The gradient checker runs dropout in inference mode, where it is exact.
    let report = gradcheck::check_model(&mut m1, &x, &y).unwrap();
    assert!(report.max_rel() < 1e-6, "{report}");
}

#[test]
fn invalid_rates_are_rejected_when_built() {
    for p in [-0.1, 1.0, 1.5, f64::NAN] {
        assert!(
            matches!(
                Dropout::<f64>::new(3, p, 0),
                Err(Error::InvalidParameter { .. })
            ),
            "{p}"
        );
        let err = Sequential::<f64>::builder(3)
            .dense(2, Relu)
            .dropout(p)
            .dense(1, Identity)
            .build();
        assert!(
            matches!(
                err,
                Err(Error::InvalidParameter {
                    name: "dropout rate",
                    ..
                })
            ),
            "{p}"
        );
    }
    assert!(matches!(
        Dropout::<f64>::new(0, 0.5, 0),
        Err(Error::Empty { .. })
    ));
}
