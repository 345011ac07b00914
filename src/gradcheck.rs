//! Gradient checking by central finite differences, for the crate's types and your own.
//!
//! Every analytic gradient (a weight delta, a layer's input delta, an activation's or a loss's
//! backward pass) is compared with
//!
//! ```text
//! numeric = (L(v + h) - L(v - h)) / (2h)
//! abs     = |analytic - numeric|
//! rel     = abs / max(|analytic|, |numeric|, floor)
//! ```
//!
//! where `L` is the scalar being differentiated: the model's loss for [`check_model`] and
//! [`check_loss`], and `sum(output * upstream)` for [`check_layer`] and [`check_activation`] (so
//! `upstream` plays the role of the delta arriving from above). The `floor` keeps gradients that
//! are exactly zero (a ReLU that is off, an input that is 0) from turning rounding noise into a
//! large relative error.
//!
//! ```
//! use backprop::prelude::*;
//! use nalgebra::DMatrix;
//!
//! let mut model = Sequential::<f64>::builder(3)
//!     .seed(7)
//!     .dense(4, Tanh)
//!     .dense(2, Softmax)
//!     .loss(CategoricalCrossEntropy)
//!     .build()
//!     .unwrap();
//! let x = DMatrix::from_row_slice(2, 3, &[0.1, -0.4, 0.8, 0.3, 0.2, -0.5]);
//! let y = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]);
//! let report = gradcheck::check_model(&mut model, &x, &y).unwrap();
//! assert!(report.max_rel() < 1e-7, "{report}");
//! ```

use std::fmt;

use nalgebra::DMatrix;

use crate::validate::check_finite;
use crate::{Activation, Error, Float, Layer, Loss, Matrix, MatrixView, Result, Sequential};

/// The worst disagreement found for one parameter (or one input matrix).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Layer index, for model parameters.
    pub layer: Option<usize>,
    /// Parameter name (`"weights"`, `"bias"`, `"input"`, `"pred"`, ...).
    pub name: String,
    /// Largest absolute error over the parameter's entries.
    pub max_abs: f64,
    /// Largest relative error over the parameter's entries.
    pub max_rel: f64,
    /// `(row, column)` of the entry with the largest relative error.
    pub at: (usize, usize),
    /// Analytic and numeric gradient at `at`.
    pub values: (f64, f64),
}

/// The result of a gradient check: one [`Entry`] per parameter checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// One entry per parameter or input checked.
    pub entries: Vec<Entry>,
}

impl Report {
    /// Largest absolute error over all entries.
    pub fn max_abs(&self) -> f64 {
        self.entries.iter().map(|e| e.max_abs).fold(0.0, f64::max)
    }

    /// Largest relative error over all entries.
    pub fn max_rel(&self) -> f64 {
        self.entries.iter().map(|e| e.max_rel).fold(0.0, f64::max)
    }

    /// The entry with the largest relative error.
    pub fn worst(&self) -> Option<&Entry> {
        self.entries
            .iter()
            .max_by(|a, b| a.max_rel.total_cmp(&b.max_rel))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            let layer = e.layer.map_or(String::new(), |l| format!("layer {l} "));
            writeln!(
                f,
                "{layer}{}: max abs {:.3e}, max rel {:.3e} at {:?} (analytic {:.6e}, numeric {:.6e})",
                e.name, e.max_abs, e.max_rel, e.at, e.values.0, e.values.1
            )?;
        }
        Ok(())
    }
}

/// Step and floor of a gradient check.
///
/// ```
/// use backprop::gradcheck::GradCheck;
/// let c = GradCheck::for_type::<f32>();
/// assert!(c.step > GradCheck::for_type::<f64>().step);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradCheck {
    /// Finite-difference step `h`.
    pub step: f64,
    /// Smallest denominator of the relative error.
    pub floor: f64,
}

impl GradCheck {
    /// Defaults for the float type: `h = 1e-5`, floor `1e-3` in `f64`; `h = 5e-3`, floor `1e-2` in
    /// `f32` (near the cube root of each type's epsilon, which balances rounding and truncation).
    pub fn for_type<T: Float>() -> Self {
        if T::NAME == "f32" {
            GradCheck {
                step: 5e-3,
                floor: 1e-2,
            }
        } else {
            GradCheck {
                step: 1e-5,
                floor: 1e-3,
            }
        }
    }

    /// The step in `T`; [`Error::InvalidParameter`] unless it is finite and positive there (an
    /// `f64` step may round to 0 or overflow in `f32`) and the floor is finite and positive.
    fn validate<T: Float>(&self) -> Result<T> {
        let h = T::of(self.step);
        if !(h.finite() && h > T::zero()) {
            return Err(Error::param(
                "gradient check step",
                self.step,
                "must be finite and positive in the model's float type",
            ));
        }
        if !(self.floor.is_finite() && self.floor > 0.0) {
            return Err(Error::param(
                "gradient check floor",
                self.floor,
                "must be finite and positive",
            ));
        }
        Ok(h)
    }

    /// Checks every parameter gradient of `model` on the batch `x`, `y` (see [`check_model`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `step` (in `T`) and `floor` are finite and positive; the input
    /// and target errors of [`Sequential::step`]. The model's parameters are unchanged.
    pub fn model<T: Float>(
        &self,
        model: &mut Sequential<T>,
        x: &Matrix<T>,
        y: &Matrix<T>,
    ) -> Result<Report> {
        let h = self.validate::<T>()?;
        model.gradients(x, y)?;
        let (xv, yv) = (x.as_view(), y.as_view());
        let mut report = Report::default();
        // Each parameter with its layer and its place in the layer, from the parameter walk.
        let mut place = (usize::MAX, 0);
        let params: Vec<_> = (model.parameters())
            .map(|(i, p)| {
                place = (i, if place.0 == i { place.1 + 1 } else { 0 });
                (i, place.1, p.name, p.grad.clone())
            })
            .collect();
        for (i, k, name, grad) in params {
            let mut acc = Acc::new(Some(i), name, self.floor);
            for c in 0..grad.ncols() {
                for r in 0..grad.nrows() {
                    let nudge = |model: &mut Sequential<T>, v: Option<T>| {
                        set_entry(model.layers_mut()[i].as_mut(), (i, k, name), (r, c), v)
                    };
                    let old = nudge(model, None)?;
                    nudge(model, Some(old + h))?;
                    let plus = model.loss_unchecked(xv, yv);
                    nudge(model, Some(old - h))?;
                    let minus = model.loss_unchecked(xv, yv);
                    nudge(model, Some(old))?;
                    acc.add(r, c, grad[(r, c)], (plus - minus) / (h + h));
                }
            }
            report.entries.push(acc.done());
        }
        // Leave the buffers holding the batch's own forward and backward pass.
        model.gradients(x, y)?;
        Ok(report)
    }

    /// Checks a layer's parameter and input gradients (see [`check_layer`]).
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] unless `input` has the layer's input width and `upstream` is
    /// `rows x output width`; [`Error::NonFinite`] for NaN or infinity; [`Error::Empty`] without rows;
    /// [`Error::InvalidParameter`] for a step (in `T`) or floor that is not finite and positive.
    pub fn layer<T: Float>(
        &self,
        layer: &mut dyn Layer<T>,
        input: &Matrix<T>,
        upstream: &Matrix<T>,
    ) -> Result<Report> {
        let h = self.validate::<T>()?;
        let rows = input.nrows();
        if rows == 0 {
            return Err(Error::Empty { what: "input" });
        }
        expect_shape("input", input, (rows, layer.input_size()))?;
        expect_shape("upstream", upstream, (rows, layer.output_size()))?;
        check_finite("input", input.as_view())?;
        check_finite("upstream", upstream.as_view())?;
        let mut out = DMatrix::zeros(rows, layer.output_size());
        let scalar = |layer: &mut dyn Layer<T>, x: &Matrix<T>, out: &mut Matrix<T>| -> T {
            layer.forward_train(x.as_view(), out.as_view_mut());
            out.dot(upstream)
        };
        // Analytic: the model's sequence for one layer.
        layer.forward_train(input.as_view(), out.as_view_mut());
        let mut delta = upstream.clone();
        if let Some(f) = layer.activation() {
            let from = crate::model::derivative_from(&*layer, f, out.as_view());
            f.backward(from, delta.as_view_mut());
        }
        let mut grad_input = DMatrix::zeros(rows, layer.input_size());
        layer.backward(
            input.as_view(),
            delta.as_view(),
            Some(grad_input.as_view_mut()),
        );

        let mut report = Report::default();
        let count = crate::model::count_params(&*layer, 0)?;
        let params: Vec<_> = crate::model::layer_params(&*layer, count)
            .map(|p| {
                crate::model::check_gradient_shape(0, p.name, p.value, p.grad)?;
                Ok((p.name, p.grad.clone()))
            })
            .collect::<Result<_>>()?;
        for (k, (name, grad)) in params.into_iter().enumerate() {
            let mut acc = Acc::new(None, name, self.floor);
            for c in 0..grad.ncols() {
                for r in 0..grad.nrows() {
                    let nudge = |layer: &mut dyn Layer<T>, v: Option<T>| {
                        set_entry(layer, (0, k, name), (r, c), v)
                    };
                    let old = nudge(layer, None)?;
                    nudge(layer, Some(old + h))?;
                    let plus = scalar(layer, input, &mut out);
                    nudge(layer, Some(old - h))?;
                    let minus = scalar(layer, input, &mut out);
                    nudge(layer, Some(old))?;
                    acc.add(r, c, grad[(r, c)], (plus - minus) / (h + h));
                }
            }
            report.entries.push(acc.done());
        }
        let mut acc = Acc::new(None, "input", self.floor);
        let mut x = input.clone();
        for c in 0..x.ncols() {
            for r in 0..rows {
                let old = x[(r, c)];
                x[(r, c)] = old + h;
                let plus = scalar(layer, &x, &mut out);
                x[(r, c)] = old - h;
                let minus = scalar(layer, &x, &mut out);
                x[(r, c)] = old;
                acc.add(r, c, grad_input[(r, c)], (plus - minus) / (h + h));
            }
        }
        report.entries.push(acc.done());
        Ok(report)
    }

    /// Checks an activation's backward pass (see [`check_activation`]).
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] unless `upstream` has the shape of `z`; [`Error::NonFinite`];
    /// [`Error::InvalidParameter`] for a step (in `T`) or floor that is not finite and positive.
    pub fn activation<T: Float>(
        &self,
        f: &dyn Activation<T>,
        z: &Matrix<T>,
        upstream: &Matrix<T>,
    ) -> Result<Report> {
        let h = self.validate::<T>()?;
        expect_shape("upstream", upstream, z.shape())?;
        check_finite("z", z.as_view())?;
        check_finite("upstream", upstream.as_view())?;
        let scalar = |z: &Matrix<T>| -> T {
            let mut a = z.clone();
            f.forward(a.as_view_mut());
            a.dot(upstream)
        };
        let mut a = z.clone();
        f.forward(a.as_view_mut());
        let mut grad = upstream.clone();
        // The derivative comes from the output, or from `z` for an activation that asks for it.
        let from = if f.needs_input() { z } else { &a };
        f.backward(from.as_view(), grad.as_view_mut());
        let mut acc = Acc::new(None, "z", self.floor);
        let mut zz = z.clone();
        for c in 0..z.ncols() {
            for r in 0..z.nrows() {
                let old = zz[(r, c)];
                zz[(r, c)] = old + h;
                let plus = scalar(&zz);
                zz[(r, c)] = old - h;
                let minus = scalar(&zz);
                zz[(r, c)] = old;
                acc.add(r, c, grad[(r, c)], (plus - minus) / (h + h));
            }
        }
        Ok(Report {
            entries: vec![acc.done()],
        })
    }

    /// Checks a loss's gradient (see [`check_loss`]).
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] without rows; [`Error::NonFinite`] in `pred`; the loss's target errors;
    /// [`Error::InvalidParameter`] for a step (in `T`) or floor that is not finite and positive.
    pub fn loss<T: Float>(
        &self,
        loss: &dyn Loss<T>,
        pred: &Matrix<T>,
        target: &Matrix<T>,
    ) -> Result<Report> {
        let h = self.validate::<T>()?;
        if pred.nrows() == 0 {
            return Err(Error::Empty {
                what: "predictions",
            });
        }
        check_finite("predictions", pred.as_view())?;
        if target.nrows() != pred.nrows() {
            return Err(Error::RowMismatch {
                inputs: pred.nrows(),
                targets: target.nrows(),
            });
        }
        loss.check_targets(pred.ncols(), target.as_view())?;
        let (pred, target): (MatrixView<'_, T>, MatrixView<'_, T>) =
            (pred.as_view(), target.as_view());
        let mut grad = DMatrix::<T>::zeros(pred.nrows(), pred.ncols());
        loss.gradient(pred, target, grad.as_view_mut());
        // What training calls: one value and gradient, checked against the two methods.
        let mut both = DMatrix::<T>::zeros(pred.nrows(), pred.ncols());
        let value = loss.loss_and_gradient(pred, target, both.as_view_mut());
        let mut value_acc = Acc::new(None, "loss_and_gradient value", self.floor);
        value_acc.add(0, 0, value, loss.loss(pred, target));
        let mut acc = Acc::new(None, "pred", self.floor);
        let mut both_acc = Acc::new(None, "loss_and_gradient pred", self.floor);
        let mut p = pred.clone_owned();
        for c in 0..p.ncols() {
            for r in 0..p.nrows() {
                let old = p[(r, c)];
                p[(r, c)] = old + h;
                let plus = loss.loss(p.as_view(), target);
                p[(r, c)] = old - h;
                let minus = loss.loss(p.as_view(), target);
                p[(r, c)] = old;
                let numeric = (plus - minus) / (h + h);
                acc.add(r, c, grad[(r, c)], numeric);
                both_acc.add(r, c, both[(r, c)], numeric);
            }
        }
        Ok(Report {
            entries: vec![acc.done(), both_acc.done(), value_acc.done()],
        })
    }
}

/// Sets entry `(r, c)` of parameter `k` (named `name`, of layer `index` for the error) to `v`
/// if given; returns the old value.
///
/// # Errors
///
/// [`Error::NoSuchParameter`] if `param_mut(k)` has no such entry (a user's layer whose
/// `param_mut` disagrees with its `param`).
fn set_entry<T: Float>(
    layer: &mut dyn Layer<T>,
    (index, k, name): (usize, usize, &str),
    (r, c): (usize, usize),
    v: Option<T>,
) -> Result<T> {
    let entry = (layer.param_mut(k)).and_then(|p| p.value.get_mut((r, c)));
    let entry = entry.ok_or_else(|| Error::NoSuchParameter {
        layer: index,
        name: format!("{name} (entry {r}, {c}, writable)"),
    })?;
    let old = *entry;
    *entry = v.unwrap_or(old);
    Ok(old)
}

fn expect_shape<T: Float>(what: &str, m: &Matrix<T>, shape: (usize, usize)) -> Result<()> {
    if m.shape() != shape {
        return Err(Error::Shape {
            what: what.into(),
            expected: shape,
            actual: m.shape(),
        });
    }
    Ok(())
}

/// Accumulates the worst errors of one parameter.
struct Acc {
    entry: Entry,
    floor: f64,
    seen: usize,
}

impl Acc {
    fn new(layer: Option<usize>, name: &str, floor: f64) -> Self {
        Acc {
            entry: Entry {
                layer,
                name: name.to_string(),
                max_abs: 0.0,
                max_rel: 0.0,
                at: (0, 0),
                values: (0.0, 0.0),
            },
            floor,
            seen: 0,
        }
    }

    fn add<T: Float>(&mut self, r: usize, c: usize, analytic: T, numeric: T) {
        let (a, n) = (analytic.as_f64(), numeric.as_f64());
        let abs = (a - n).abs();
        let rel = abs / a.abs().max(n.abs()).max(self.floor);
        // NaN compares false: make it the worst error rather than hide it.
        let (abs, rel) = if abs.is_nan() {
            (f64::INFINITY, f64::INFINITY)
        } else {
            (abs, rel)
        };
        self.entry.max_abs = self.entry.max_abs.max(abs);
        if self.seen == 0 || rel > self.entry.max_rel {
            self.entry.max_rel = rel;
            self.entry.at = (r, c);
            self.entry.values = (a, n);
        }
        self.seen += 1;
    }

    fn done(self) -> Entry {
        self.entry
    }
}

/// Checks every parameter gradient of a model (the fused output delta included) against central
/// differences of its loss on the batch `x`, `y`, with [`GradCheck::for_type`] settings.
///
/// The model's weights are restored exactly; its buffers hold the batch's forward and backward
/// pass afterwards. Layers with randomness such as [`Dropout`](crate::layer::Dropout) are
/// checked in inference mode, where they are deterministic.
///
/// # Errors
///
/// The input and target errors of [`Sequential::step`].
pub fn check_model<T: Float>(
    model: &mut Sequential<T>,
    x: &Matrix<T>,
    y: &Matrix<T>,
) -> Result<Report> {
    GradCheck::for_type::<T>().model(model, x, y)
}

/// Checks a layer's parameter gradients and its input delta for `L = sum(output * upstream)`,
/// with [`GradCheck::for_type`] settings. Works for any [`Layer`], including your own.
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
/// let mut layer = Dense::from_weights(DMatrix::from_row_slice(2, 2, &[0.5, -0.2, 0.1, 0.7]), None)
///     .unwrap()
///     .with_activation(Sigmoid);
/// let input = DMatrix::from_row_slice(3, 2, &[1.0, 2.0, -1.0, 0.5, 0.3, 0.3]);
/// let upstream = DMatrix::from_row_slice(3, 2, &[1.0, -1.0, 0.5, 0.2, 2.0, 0.0]);
/// let report = gradcheck::check_layer(&mut layer, &input, &upstream).unwrap();
/// assert!(report.max_rel() < 1e-7, "{report}");
/// ```
///
/// # Errors
///
/// See [`GradCheck::layer`].
pub fn check_layer<T: Float>(
    layer: &mut dyn Layer<T>,
    input: &Matrix<T>,
    upstream: &Matrix<T>,
) -> Result<Report> {
    GradCheck::for_type::<T>().layer(layer, input, upstream)
}

/// Checks an activation's backward pass for `L = sum(f(z) * upstream)`, with
/// [`GradCheck::for_type`] settings.
///
/// # Errors
///
/// See [`GradCheck::activation`].
pub fn check_activation<T: Float>(
    f: &dyn Activation<T>,
    z: &Matrix<T>,
    upstream: &Matrix<T>,
) -> Result<Report> {
    GradCheck::for_type::<T>().activation(f, z, upstream)
}

/// Checks a loss's gradient with respect to the predictions, with [`GradCheck::for_type`] settings.
///
/// The report has three entries: `"pred"` ([`Loss::gradient`] against finite differences of
/// [`Loss::loss`]), `"loss_and_gradient pred"` (the gradient of [`Loss::loss_and_gradient`], which
/// training uses, against the same differences) and `"loss_and_gradient value"` (its value against
/// [`Loss::loss`]).
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
/// let pred = DMatrix::from_row_slice(2, 3, &[0.2, 0.3, 0.5, 0.1, 0.8, 0.1]);
/// let goal = DMatrix::from_row_slice(2, 1, &[2.0, 1.0]); // class indices
/// let report = gradcheck::check_loss(&CategoricalCrossEntropy, &pred, &goal).unwrap();
/// assert!(report.max_rel() < 1e-7, "{report}");
/// ```
///
/// # Errors
///
/// See [`GradCheck::loss`].
pub fn check_loss<T: Float>(
    loss: &dyn Loss<T>,
    pred: &Matrix<T>,
    target: &Matrix<T>,
) -> Result<Report> {
    GradCheck::for_type::<T>().loss(loss, pred, target)
}
