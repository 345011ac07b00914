//! A layer written outside the crate works inside `Sequential` and passes the gradient checker.

use backprop::layer::{Param, ParamMut};
use backprop::prelude::*;
use nalgebra::DMatrix;

/// Per-feature affine map `y = x * scale + shift` (element-wise, one scale and shift per column):
/// a learned normalisation written only against the public `Layer` trait.
#[derive(Debug, Clone)]
struct Affine {
    scale: DMatrix<f64>,
    shift: DMatrix<f64>,
    scale_grad: DMatrix<f64>,
    shift_grad: DMatrix<f64>,
}

impl Affine {
    fn new(scale: &[f64], shift: &[f64]) -> Self {
        let n = scale.len();
        Affine {
            scale: DMatrix::from_row_slice(1, n, scale),
            shift: DMatrix::from_row_slice(1, n, shift),
            scale_grad: DMatrix::zeros(1, n),
            shift_grad: DMatrix::zeros(1, n),
        }
    }
}

impl Layer<f64> for Affine {
    fn name(&self) -> &str {
        "Affine"
    }
    fn input_size(&self) -> usize {
        self.scale.ncols()
    }
    fn output_size(&self) -> usize {
        self.scale.ncols()
    }
    fn forward(&self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
        for j in 0..input.ncols() {
            for r in 0..input.nrows() {
                output[(r, j)] = input[(r, j)] * self.scale[(0, j)] + self.shift[(0, j)];
            }
        }
    }
    fn backward(
        &mut self,
        input: MatrixView<'_, f64>,
        delta: MatrixView<'_, f64>,
        grad_input: Option<MatrixViewMut<'_, f64>>,
    ) {
        for j in 0..input.ncols() {
            self.scale_grad[(0, j)] = input.column(j).dot(&delta.column(j));
            self.shift_grad[(0, j)] = delta.column(j).sum();
        }
        if let Some(mut g) = grad_input {
            for j in 0..delta.ncols() {
                for r in 0..delta.nrows() {
                    g[(r, j)] = delta[(r, j)] * self.scale[(0, j)];
                }
            }
        }
    }
    fn param(&self, k: usize) -> Option<Param<'_, f64>> {
        match k {
            0 => Some(Param {
                name: "scale",
                value: &self.scale,
                grad: &self.scale_grad,
            }),
            1 => Some(Param {
                name: "shift",
                value: &self.shift,
                grad: &self.shift_grad,
            }),
            _ => None,
        }
    }
    fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, f64>> {
        match k {
            0 => Some(ParamMut {
                name: "scale",
                value: &mut self.scale,
                grad: &mut self.scale_grad,
            }),
            1 => Some(ParamMut {
                name: "shift",
                value: &mut self.shift,
                grad: &mut self.shift_grad,
            }),
            _ => None,
        }
    }
}

fn data() -> (DMatrix<f64>, DMatrix<f64>) {
    let x = DMatrix::from_row_slice(4, 3, &[1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1.]);
    let y = DMatrix::from_row_slice(4, 1, &[1., 1., 0., 0.]);
    (x, y)
}

fn model() -> Sequential<f64> {
    Sequential::builder(3)
        .seed(2)
        .add(Affine::new(&[1.5, 0.7, -0.4], &[0.1, -0.2, 0.3]))
        .dense(4, Tanh)
        .add(Affine::new(&[0.9, 1.1, 1.3, 0.5], &[0.0, 0.05, -0.05, 0.2]))
        .dense(1, Sigmoid)
        .loss(BinaryCrossEntropy)
        .build()
        .unwrap()
}

#[test]
fn custom_layer_gradients_match_finite_differences_inside_a_model() {
    let (x, y) = data();
    let mut m = model();
    let report = gradcheck::check_model(&mut m, &x, &y).unwrap();
    // Two Affine layers (scale, shift) and two Dense layers (weights, bias).
    assert_eq!(report.entries.len(), 8);
    assert!(report.max_rel() < 1e-7, "{report}");
    assert_eq!(m.param(0, "scale").unwrap()[(0, 0)], 1.5);
    assert!(m.layer_as::<Affine>(2).is_some());
}

#[test]
fn custom_layer_passes_the_layer_checker() {
    let mut layer = Affine::new(&[0.5, -2.0], &[1.0, 0.0]);
    let input = DMatrix::from_row_slice(3, 2, &[0.1, 0.2, -0.3, 0.4, 0.5, -0.6]);
    let upstream = DMatrix::from_row_slice(3, 2, &[1.0, -1.0, 0.5, 2.0, -0.25, 0.75]);
    let report = gradcheck::check_layer(&mut layer, &input, &upstream).unwrap();
    assert!(report.max_rel() < 1e-8, "{report}");
}

#[test]
fn custom_layer_trains_inside_a_model() {
    let (x, y) = data();
    let mut m = model();
    let before = m.evaluate(&x, &y).unwrap();
    let history = m
        .fit(&x, &y, &mut Sgd::new(0.5).unwrap(), &Fit::new(300).full())
        .unwrap();
    let after = m.evaluate(&x, &y).unwrap();
    assert!(after < before * 0.2, "loss {before} -> {after}");
    assert_eq!(history.loss.len(), 300);
}

#[test]
fn a_custom_layer_of_the_wrong_width_is_rejected_by_the_builder() {
    let err = Sequential::<f64>::builder(3)
        .dense(4, Relu)
        .add(Affine::new(&[1.0, 1.0], &[0.0, 0.0]))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        Error::LayerShape {
            layer: 1,
            name: "Affine".into(),
            expected: 2,
            actual: 4
        }
    );
    assert!(
        err.to_string()
            .contains("layer 1 (Affine) expects 2 inputs")
    );
}
