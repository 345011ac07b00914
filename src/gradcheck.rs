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
//!
//! # Kinks
//!
//! A piecewise activation has points where it has no derivative: ReLU at 0, and the joins of any
//! activation defined by cases (a leaky ReLU, a clipped one). When a pre-activation lies within
//! `h` of such a point, `v + h` and `v - h` land on different pieces, the central difference
//! averages the two slopes, and the analytic gradient (which takes one piece's slope) disagrees
//! with it by up to half the jump:
//!
//! ```text
//! relu at z = 0:   analytic = relu'(0) = 0      numeric = (relu(h) - relu(-h)) / 2h = 0.5
//! ```
//!
//! This is not a bug in the backward pass, but it looks like one. Three ways around it:
//!
//! - keep inputs away from kinks: draw them from a continuous range (a pre-activation then lands
//!   within `h` of a kink with probability about `h`), and avoid round numbers such as 0 and 1
//!   that hit a kink exactly;
//! - use a smaller step ([`GradCheck::step`]), which narrows the band around each kink;
//! - skip or report those entries with [`GradCheck::kinks`]: [`KinkPolicy::Skip`] leaves them out
//!   of the errors and counts them in [`Report::skipped`]; [`KinkPolicy::Report`] also lists each
//!   one in [`Report::kinks`], so that you see them apart from real errors.
//!
//! The policy needs no knowledge of the activation. It evaluates `L` at `v`, `v + h/2` and
//! `v - h/2` besides `v + h` and `v - h`, and compares the one-sided slopes
//! `(L(v + h) - L(v)) / h` and `(L(v) - L(v - h)) / h`. This is sound because where `L` is smooth
//! they differ by `h * L''(v)`, which shrinks with `h`, while across a kink they differ by the jump
//! in slope, which does not (and half of which is the error the kink adds to the central
//! difference). An entry is near a kink when
//!
//! ```text
//! gap  = right - left                                  (the slopes at h)
//! jump = 2 * gap(h/2) - gap                            (curvature cancels, a jump at v stays)
//! kink = |jump| > sqrt(eps) * scale + rounding                     (a kink at v)
//!        or (|gap| > sqrt(h) * scale and |analytic - numeric| <= |gap|)   (a kink within h)
//! ```
//!
//! with `scale = max(|left|, |right|, floor)`. The condition on the second line keeps real errors
//! in where strong curvature widens the gap: at a kink the analytic gradient is one of the two
//! slopes, within the gap of the central difference, while a wrong gradient on a smooth stretch
//! lies further away than the gap there, and is compared as before. (The gradient of an entry that
//! sits on a kink cannot be judged by finite differences at all, right or wrong.)
//! [`KinkPolicy::Report`] shows which entries were left out. In `f32` a kink whose jump is below
//! the rounding of `L` (about `2e-3 * |L|` with the default step) is not told apart from noise;
//! its error is below that too.
//!
//! ```
//! use backprop::gradcheck::{GradCheck, KinkPolicy};
//! use backprop::prelude::*;
//! use nalgebra::DMatrix;
//!
//! // The first hidden unit's pre-activation is exactly 0 for this input: 1 * 0.5 + 1 * -0.5.
//! let weights_0_1 = DMatrix::from_row_slice(2, 2, &[0.5, 0.3, -0.5, 0.2]);
//! let weights_1_2 = DMatrix::from_row_slice(2, 1, &[0.7, -0.4]);
//! let mut model = Sequential::<f64>::builder(2)
//!     .add(Dense::from_weights(weights_0_1, None)?.with_activation(Relu))
//!     .add(Dense::from_weights(weights_1_2, None)?)
//!     .build()?;
//! let x = DMatrix::from_row_slice(1, 2, &[1.0, 1.0]);
//! let y = DMatrix::from_element(1, 1, 1.0);
//!
//! let plain = gradcheck::check_model(&mut model, &x, &y)?;
//! assert!(plain.max_rel() > 0.1); // the kink, not a bug
//! let report = GradCheck::for_type::<f64>().kinks(KinkPolicy::Report).model(&mut model, &x, &y)?;
//! assert!(report.max_rel() < 1e-7, "{report}");
//! // Both weights into the first hidden unit move its pre-activation across 0.
//! let at: Vec<_> = report.kinks.iter().map(|k| (k.layer, k.name.as_str(), k.at)).collect();
//! assert_eq!(at, [(Some(0), "weights", (0, 0)), (Some(0), "weights", (1, 0))]);
//! # Ok::<(), backprop::Error>(())
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
    /// How many entries a [`KinkPolicy`] left out of `entries` as near a kink (0 under
    /// [`KinkPolicy::Compare`]).
    pub skipped: usize,
    /// The entries left out near a kink, under [`KinkPolicy::Report`].
    pub kinks: Vec<Kink>,
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
        if self.skipped > 0 {
            writeln!(f, "{} entries near a kink left out", self.skipped)?;
        }
        for k in &self.kinks {
            let layer = k.layer.map_or(String::new(), |l| format!("layer {l} "));
            writeln!(
                f,
                "  kink: {layer}{} at {:?}: slopes {:.6e} | {:.6e} (analytic {:.6e}, numeric {:.6e})",
                k.name, k.at, k.slopes.0, k.slopes.1, k.analytic, k.numeric
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
        self.kinks(KinkPolicy::Compare).model(model, x, y)
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
        self.kinks(KinkPolicy::Compare)
            .layer(layer, input, upstream)
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
        self.kinks(KinkPolicy::Compare).activation(f, z, upstream)
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
        self.kinks(KinkPolicy::Compare).loss(loss, pred, target)
    }

    /// These settings with a policy for entries near a kink (see [the module docs](self#kinks)).
    ///
    /// ```
    /// use backprop::gradcheck::{GradCheck, KinkPolicy};
    /// let check = GradCheck::for_type::<f64>().kinks(KinkPolicy::Report);
    /// assert_eq!(check.policy, KinkPolicy::Report);
    /// ```
    pub fn kinks(self, policy: KinkPolicy) -> KinkCheck {
        KinkCheck {
            check: self,
            policy,
        }
    }
}

/// What a gradient check does with an entry whose perturbation crosses a kink (a point where the
/// function is not differentiable, such as ReLU at 0); see [the module docs](self#kinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KinkPolicy {
    /// Compare every entry, kinks included (what [`GradCheck`]'s own methods do).
    #[default]
    Compare,
    /// Leave entries near a kink out of the errors and count them in [`Report::skipped`].
    Skip,
    /// As [`Skip`](KinkPolicy::Skip), and list each one in [`Report::kinks`] with its position
    /// and one-sided slopes.
    Report,
}

/// An entry left out of a check because its perturbation crosses a kink.
#[derive(Debug, Clone, PartialEq)]
pub struct Kink {
    /// Layer index, for model parameters.
    pub layer: Option<usize>,
    /// Parameter name (`"weights"`, `"bias"`, `"input"`, `"z"`, ...).
    pub name: String,
    /// `(row, column)` of the entry.
    pub at: (usize, usize),
    /// The analytic gradient.
    pub analytic: f64,
    /// The central difference `(L(v + h) - L(v - h)) / 2h`.
    pub numeric: f64,
    /// The one-sided differences `(L(v) - L(v - h)) / h` and `(L(v + h) - L(v)) / h`.
    pub slopes: (f64, f64),
}

/// A gradient check with a [`KinkPolicy`]: [`GradCheck::kinks`] makes one.
///
/// ```
/// use backprop::gradcheck::{self, GradCheck, KinkPolicy};
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// // ReLU at exactly 0: its derivative there is 0, the central difference sees half a slope.
/// let z = DMatrix::from_row_slice(1, 3, &[-0.5, 0.0, 0.7]);
/// let upstream = DMatrix::from_row_slice(1, 3, &[1.0, 1.0, 1.0]);
/// assert!(gradcheck::check_activation(&Relu, &z, &upstream)?.max_rel() > 0.1);
///
/// let check = GradCheck::for_type::<f64>().kinks(KinkPolicy::Report);
/// let report = check.activation(&Relu, &z, &upstream)?;
/// assert!(report.max_rel() < 1e-7, "{report}");
/// assert_eq!(report.skipped, 1);
/// assert_eq!(report.kinks[0].at, (0, 1));
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KinkCheck {
    /// Step and floor.
    pub check: GradCheck,
    /// What to do with entries near a kink.
    pub policy: KinkPolicy,
}

impl KinkCheck {
    /// [`GradCheck::model`] under this policy.
    ///
    /// # Errors
    ///
    /// As [`GradCheck::model`].
    pub fn model<T: Float>(
        &self,
        model: &mut Sequential<T>,
        x: &Matrix<T>,
        y: &Matrix<T>,
    ) -> Result<Report> {
        let h = self.check.validate::<T>()?;
        model.gradients(x, y)?;
        let (xv, yv) = (x.as_view(), y.as_view());
        let base = model.loss_unchecked(xv, yv);
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
            let mut acc = self.acc(Some(i), name);
            for c in 0..grad.ncols() {
                for r in 0..grad.nrows() {
                    let nudge = |model: &mut Sequential<T>, v: Option<T>| {
                        set_entry(model.layers_mut()[i].as_mut(), (i, k, name), (r, c), v)
                    };
                    let old = nudge(model, None)?;
                    let probe = self.probe(old, h, |v| {
                        nudge(model, Some(v))?;
                        Ok(model.loss_unchecked(xv, yv))
                    })?;
                    nudge(model, Some(old))?;
                    acc.add_diff(r, c, grad[(r, c)], base, probe);
                }
            }
            acc.done(&mut report);
        }
        // Leave the buffers holding the batch's own forward and backward pass.
        model.gradients(x, y)?;
        Ok(report)
    }

    /// [`GradCheck::layer`] under this policy.
    ///
    /// # Errors
    ///
    /// As [`GradCheck::layer`].
    pub fn layer<T: Float>(
        &self,
        layer: &mut dyn Layer<T>,
        input: &Matrix<T>,
        upstream: &Matrix<T>,
    ) -> Result<Report> {
        let h = self.check.validate::<T>()?;
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
        let base = self.base(|| scalar(layer, input, &mut out));

        let mut report = Report::default();
        let count = crate::model::count_params(&*layer, 0)?;
        let params: Vec<_> = crate::model::layer_params(&*layer, count)
            .map(|p| {
                crate::model::check_gradient_shape(0, p.name, p.value, p.grad)?;
                Ok((p.name, p.grad.clone()))
            })
            .collect::<Result<_>>()?;
        for (k, (name, grad)) in params.into_iter().enumerate() {
            let mut acc = self.acc(None, name);
            for c in 0..grad.ncols() {
                for r in 0..grad.nrows() {
                    let nudge = |layer: &mut dyn Layer<T>, v: Option<T>| {
                        set_entry(layer, (0, k, name), (r, c), v)
                    };
                    let old = nudge(layer, None)?;
                    let probe = self.probe(old, h, |v| {
                        nudge(layer, Some(v))?;
                        Ok(scalar(layer, input, &mut out))
                    })?;
                    nudge(layer, Some(old))?;
                    acc.add_diff(r, c, grad[(r, c)], base, probe);
                }
            }
            acc.done(&mut report);
        }
        let mut acc = self.acc(None, "input");
        let mut x = input.clone();
        for c in 0..x.ncols() {
            for r in 0..rows {
                let old = x[(r, c)];
                let probe = self.probe(old, h, |v| {
                    x[(r, c)] = v;
                    Ok(scalar(layer, &x, &mut out))
                })?;
                x[(r, c)] = old;
                acc.add_diff(r, c, grad_input[(r, c)], base, probe);
            }
        }
        acc.done(&mut report);
        Ok(report)
    }

    /// [`GradCheck::activation`] under this policy.
    ///
    /// # Errors
    ///
    /// As [`GradCheck::activation`].
    pub fn activation<T: Float>(
        &self,
        f: &dyn Activation<T>,
        z: &Matrix<T>,
        upstream: &Matrix<T>,
    ) -> Result<Report> {
        let h = self.check.validate::<T>()?;
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
        let base = self.base(|| scalar(z));
        let mut acc = self.acc(None, "z");
        let mut zz = z.clone();
        for c in 0..z.ncols() {
            for r in 0..z.nrows() {
                let old = zz[(r, c)];
                let probe = self.probe(old, h, |v| {
                    zz[(r, c)] = v;
                    Ok(scalar(&zz))
                })?;
                zz[(r, c)] = old;
                acc.add_diff(r, c, grad[(r, c)], base, probe);
            }
        }
        let mut report = Report::default();
        acc.done(&mut report);
        Ok(report)
    }

    /// [`GradCheck::loss`] under this policy.
    ///
    /// # Errors
    ///
    /// As [`GradCheck::loss`].
    pub fn loss<T: Float>(
        &self,
        loss: &dyn Loss<T>,
        pred: &Matrix<T>,
        target: &Matrix<T>,
    ) -> Result<Report> {
        let h = self.check.validate::<T>()?;
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
        let mut value_acc = self.acc(None, "loss_and_gradient value");
        value_acc.add(0, 0, value, loss.loss(pred, target));
        let base = self.base(|| loss.loss(pred, target));
        let mut acc = self.acc(None, "pred");
        let mut both_acc = self.acc(None, "loss_and_gradient pred");
        let mut p = pred.clone_owned();
        for c in 0..p.ncols() {
            for r in 0..p.nrows() {
                let old = p[(r, c)];
                let probe = self.probe(old, h, |v| {
                    p[(r, c)] = v;
                    Ok(loss.loss(p.as_view(), target))
                })?;
                p[(r, c)] = old;
                acc.add_diff(r, c, grad[(r, c)], base, probe);
                both_acc.add_diff(r, c, both[(r, c)], base, probe);
            }
        }
        let mut report = Report::default();
        for a in [acc, both_acc, value_acc] {
            a.done(&mut report);
        }
        Ok(report)
    }

    /// An accumulator for one parameter under these settings.
    fn acc(&self, layer: Option<usize>, name: &str) -> Acc {
        Acc::new(layer, name, self.check.floor, self.policy)
    }

    /// `L` at `old + h` and `old - h`, and under a kink policy at `old +- h/2` too, from `at`,
    /// which sets the entry to a value and evaluates `L` there.
    fn probe<T: Float>(
        &self,
        old: T,
        h: T,
        mut at: impl FnMut(T) -> Result<T>,
    ) -> Result<Probe<T>> {
        let plus = at(old + h)?;
        let minus = at(old - h)?;
        let halves = if self.policy == KinkPolicy::Compare {
            None
        } else {
            let half = h / T::of(2.0);
            Some((at(old + half)?, at(old - half)?))
        };
        Ok(Probe {
            h,
            plus,
            minus,
            halves,
        })
    }

    /// The unperturbed scalar `L(v)`, which only the one-sided differences need: computed only
    /// under a kink policy, so that a plain check runs exactly the passes it always ran.
    fn base<T: Float>(&self, scalar: impl FnOnce() -> T) -> T {
        if self.policy == KinkPolicy::Compare {
            T::zero()
        } else {
            scalar()
        }
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

/// The scalar `L` around one entry `v`: at `v + h`, `v - h`, and for the kink test at `v + h/2`,
/// `v - h/2`.
#[derive(Clone, Copy)]
struct Probe<T> {
    h: T,
    plus: T,
    minus: T,
    halves: Option<(T, T)>,
}

/// Accumulates the worst errors of one parameter, and the entries left out near a kink.
struct Acc {
    entry: Entry,
    floor: f64,
    seen: usize,
    policy: KinkPolicy,
    skipped: usize,
    kinks: Vec<Kink>,
}

impl Acc {
    fn new(layer: Option<usize>, name: &str, floor: f64, policy: KinkPolicy) -> Self {
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
            policy,
            skipped: 0,
            kinks: Vec::new(),
        }
    }

    /// Compares `analytic` with the central difference of `probe`, unless the policy leaves out
    /// entries near a kink and this is one (see [the module docs](self#kinks) for the test).
    fn add_diff<T: Float>(&mut self, r: usize, c: usize, analytic: T, base: T, probe: Probe<T>) {
        let numeric = (probe.plus - probe.minus) / (probe.h + probe.h);
        if let Some((plus2, minus2)) = probe.halves {
            let (a, n) = (analytic.as_f64(), numeric.as_f64());
            let [l0, lm, lp, lm2, lp2] =
                [base, probe.minus, probe.plus, minus2, plus2].map(|v| v.as_f64());
            let h = probe.h.as_f64();
            let (left, right) = ((l0 - lm) / h, (lp - l0) / h);
            // Second differences at h and h/2: each is h * L'' plus any jump in slope, so
            // twice the second minus the first cancels the curvature and keeps the jump.
            let gap = right - left;
            let jump = 2.0 * ((lp2 - l0) - (l0 - lm2)) / (h / 2.0) - gap;
            let scale = left.abs().max(right.abs()).max(self.floor);
            // Rounding in the five values of L, divided by the step.
            let eps = if T::NAME == "f32" {
                f32::EPSILON.into()
            } else {
                f64::EPSILON
            };
            let noise = 100.0
                * eps
                * [l0, lm, lp, lm2, lp2]
                    .map(f64::abs)
                    .iter()
                    .fold(0.0, |m: f64, &v| m.max(v))
                / h;
            // A jump at v shows in `jump` whatever the gradient; a kink elsewhere within h only
            // in `gap`, which strong curvature can also widen, so there the analytic gradient
            // must also be what a kink leaves: one of the one-sided slopes, within the gap of the
            // central difference (a wrong gradient on a smooth stretch is further away).
            let at_v = jump.abs() > eps.sqrt() * scale + noise;
            let within_h = gap.abs() > h.sqrt() * scale && (a - n).abs() <= gap.abs();
            if at_v || within_h {
                self.skipped += 1;
                if self.policy == KinkPolicy::Report {
                    self.kinks.push(Kink {
                        layer: self.entry.layer,
                        name: self.entry.name.clone(),
                        at: (r, c),
                        analytic: a,
                        numeric: n,
                        slopes: (left, right),
                    });
                }
                return;
            }
        }
        self.add(r, c, analytic, numeric);
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

    /// Adds the parameter's entry, and what was left out near kinks, to `report`.
    fn done(self, report: &mut Report) {
        report.entries.push(self.entry);
        report.skipped += self.skipped;
        report.kinks.extend(self.kinks);
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
