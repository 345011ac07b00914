//! Optimizer state: the per-parameter buffers (momentum, moments, accumulators) and the step count.

use crate::{Error, Float, Matrix, Result};

/// A snapshot of an optimizer's state: a step counter and named per-parameter buffers.
///
/// [`Optimizer::state`](crate::Optimizer::state) returns one and
/// [`Optimizer::load_state`](crate::Optimizer::load_state) restores it exactly, so a training loop
/// can take a snapshot, try a step, and roll back; the fields are public so the state can be
/// written to a file and read back.
///
/// The buffer names follow PyTorch's `optimizer.state_dict()["state"]`: `"momentum_buffer"`
/// ([`Sgd`](crate::Sgd), [`RmsProp`](crate::RmsProp)), `"square_avg"` and `"grad_avg"`
/// ([`RmsProp`](crate::RmsProp)), `"sum"` ([`Adagrad`](crate::Adagrad)), `"exp_avg"` and
/// `"exp_avg_sq"` ([`Adam`](crate::Adam), [`AdamW`](crate::AdamW)).
///
/// ```
/// use backprop::prelude::*;
/// use nalgebra::DMatrix;
///
/// let mut adam = Adam::<f64>::new(0.1)?;
/// assert!(adam.state().tensors.is_empty());          // nothing allocated before the first step
/// let mut w = DMatrix::from_element(1, 2, 1.0);
/// let g = DMatrix::from_element(1, 2, 0.5);
/// adam.begin_step();
/// adam.update(0, &mut w, &g);
/// let state = adam.state();
/// assert_eq!(state.step, 1);
/// let exp_avg = state.get(0, "exp_avg").unwrap()[(0, 0)];
/// assert!((exp_avg - 0.05).abs() < 1e-15); // (1 - 0.9) * 0.5
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimizerState<T: Float> {
    /// Completed steps: the number of [`begin_step`](crate::Optimizer::begin_step) calls (Adam's `t`).
    pub step: u64,
    /// The per-parameter buffers, ordered by parameter index, then by the optimizer's buffer order.
    pub tensors: Vec<StateTensor<T>>,
}

/// One named buffer of one parameter in an [`OptimizerState`].
#[derive(Debug, Clone, PartialEq)]
pub struct StateTensor<T: Float> {
    /// The parameter's index, as passed to [`Optimizer::update`](crate::Optimizer::update).
    pub index: usize,
    /// The buffer's name, e.g. `"exp_avg"`.
    pub name: String,
    /// The buffer; it has the parameter's shape.
    pub value: Matrix<T>,
}

impl<T: Float> OptimizerState<T> {
    /// The buffer `name` of parameter `index`, if there is one.
    pub fn get(&self, index: usize, name: &str) -> Option<&Matrix<T>> {
        self.tensors
            .iter()
            .find(|t| t.index == index && t.name == name)
            .map(|t| &t.value)
    }

    /// Checks every buffer against the shapes of the parameters it belongs to, `shapes[index]`
    /// as `(rows, columns)` (for a model, the shapes of its parameters in update order), and
    /// each buffer's values: finite, and not negative in a sum of squares (`"exp_avg_sq"`,
    /// `"square_avg"`, `"sum"`), whose square root the next update takes.
    ///
    /// Call this before [`load_state`](crate::Optimizer::load_state) when the state comes from a
    /// file: an optimizer cannot know the parameters' shapes until it is asked to update them.
    ///
    /// ```
    /// use backprop::optim::{OptimizerState, StateTensor};
    /// use nalgebra::DMatrix;
    ///
    /// let state = OptimizerState::<f64> {
    ///     step: 1,
    ///     tensors: vec![StateTensor { index: 0, name: "sum".into(), value: DMatrix::zeros(2, 3) }],
    /// };
    /// assert!(state.check_shapes(&[(2, 3)]).is_ok());
    /// assert!(state.check_shapes(&[(3, 2)]).is_err());
    /// assert!(state.check_shapes(&[]).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] for a buffer whose shape differs from its parameter's,
    /// [`Error::Format`] for a buffer whose index has no parameter or a negative sum of squares,
    /// and [`Error::NonFinite`] for a NaN or infinite entry.
    pub fn check_shapes(&self, shapes: &[(usize, usize)]) -> Result<()> {
        for t in &self.tensors {
            check_domain(t)?;
            let Some(&expected) = shapes.get(t.index) else {
                return Err(format_error(format!(
                    "buffer {:?} belongs to parameter {}, but there are only {} parameters",
                    t.name,
                    t.index,
                    shapes.len()
                )));
            };
            if t.value.shape() != expected {
                return Err(Error::Shape {
                    what: format!("optimizer buffer {:?} of parameter {}", t.name, t.index),
                    expected,
                    actual: t.value.shape(),
                });
            }
        }
        Ok(())
    }
}

fn format_error(reason: String) -> Error {
    Error::Format {
        path: "optimizer state".to_string(),
        reason,
    }
}

/// Per-parameter buffers, created at a parameter's first update (the only time they allocate).
///
/// `slots[index]` is empty until parameter `index` is first updated; then it holds one matrix per
/// buffer name of the optimizer, in the order of its name list.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Slots<T: Float> {
    slots: Vec<Vec<Matrix<T>>>,
}

impl<T: Float> Slots<T> {
    /// The buffers of parameter `index`, created shaped like `like` and filled with `init[k]` on
    /// the first call for that index.
    ///
    /// # Panics
    ///
    /// If existing buffers (e.g. restored from a state) do not have `like`'s shape.
    pub(crate) fn get(&mut self, index: usize, like: &Matrix<T>, init: &[T]) -> &mut [Matrix<T>] {
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, Vec::new);
        }
        let slot = &mut self.slots[index];
        if slot.is_empty() {
            let (r, c) = like.shape();
            slot.extend(init.iter().map(|&v| Matrix::from_element(r, c, v)));
        }
        assert!(
            slot.iter().all(|m| m.shape() == like.shape()),
            "optimizer state of parameter {index} has shape {:?}, the parameter {:?}",
            slot[0].shape(),
            like.shape()
        );
        slot
    }

    /// The buffers of parameter `index` as slices, if it has been updated and they have the
    /// shape `shape` (a state of another model's parameter with as many values has not).
    pub(crate) fn peek(&self, index: usize, shape: (usize, usize)) -> Option<Buffers<'_, T>> {
        let slot = self.slots.get(index)?;
        if slot.is_empty() || slot.iter().any(|m| m.shape() != shape) {
            return None;
        }
        Some(Buffers(slot))
    }

    /// The shape of the buffers of parameter `index` if it has buffers of another shape than
    /// `shape` (so that updating the parameter would mix two models).
    pub(crate) fn mismatch(&self, index: usize, shape: (usize, usize)) -> Option<(usize, usize)> {
        let slot = self.slots.get(index)?;
        slot.iter().map(|m| m.shape()).find(|&s| s != shape)
    }

    /// How many parameters the buffers are kept for: one past the last index with buffers.
    pub(crate) fn params(&self) -> usize {
        self.slots
            .iter()
            .rposition(|s| !s.is_empty())
            .map_or(0, |i| i + 1)
    }

    /// A parameter, its gradient and its buffers as slices, for judging an update: `None` if the
    /// parameter has not been updated yet or the shapes differ.
    #[allow(clippy::type_complexity)]
    pub(crate) fn with_buffers<'a>(
        &'a self,
        index: usize,
        value: &'a Matrix<T>,
        grad: &'a Matrix<T>,
    ) -> Option<(&'a [T], &'a [T], Buffers<'a, T>)> {
        if value.shape() != grad.shape() {
            return None;
        }
        let buffers = self.peek(index, value.shape())?;
        Some((value.as_slice(), grad.as_slice(), buffers))
    }

    /// Whether the first `count` parameters all have their `buffers` buffers.
    pub(crate) fn cover(&self, count: usize, buffers: usize) -> bool {
        self.slots.len() >= count && self.slots[..count].iter().all(|s| s.len() == buffers)
    }

    /// Copies every buffer, in order, into `into` (which grows only on the first copy).
    pub(crate) fn save_into(&self, into: &mut Vec<T>) {
        let total: usize = self.slots.iter().flatten().map(|m| m.len()).sum();
        if into.len() != total {
            into.resize(total, T::zero());
        }
        let mut at = 0;
        for m in self.slots.iter().flatten() {
            into[at..at + m.len()].copy_from_slice(m.as_slice());
            at += m.len();
        }
    }

    /// Copies back what [`save_into`](Self::save_into) saved, with no buffer created since.
    pub(crate) fn restore_from(&mut self, from: &[T]) {
        let mut at = 0;
        for m in self.slots.iter_mut().flatten() {
            let n = m.len();
            m.as_mut_slice().copy_from_slice(&from[at..at + n]);
            at += n;
        }
    }

    /// Whether every buffer is finite.
    pub(crate) fn all_finite(&self) -> bool {
        self.slots
            .iter()
            .flatten()
            .all(|m| crate::validate::all_finite(m.as_slice()))
    }

    /// Forgets every buffer.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
    }

    /// The buffers as named tensors, with step count `step`.
    pub(crate) fn export(&self, names: &[&'static str], step: u64) -> OptimizerState<T> {
        let mut tensors = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            for (name, value) in names.iter().zip(slot) {
                tensors.push(StateTensor {
                    index,
                    name: (*name).to_string(),
                    value: value.clone(),
                });
            }
        }
        OptimizerState { step, tensors }
    }

    /// Replaces the buffers with those of `state`, after checking that the parameters with
    /// buffers are `0..n` (as updates of a model create them), each with exactly the buffers
    /// `names`, all of one shape, finite, and not negative where `names` are sums of squares.
    /// Nothing changes on error, and nothing is allocated for an index before it is checked.
    pub(crate) fn import(
        &mut self,
        names: &[&'static str],
        state: &OptimizerState<T>,
    ) -> Result<()> {
        let mut slots: Vec<Vec<Option<Matrix<T>>>> = Vec::new();
        for t in &state.tensors {
            let Some(k) = names.iter().position(|n| *n == t.name) else {
                return Err(format_error(format!(
                    "unexpected buffer {:?} for parameter {}: this optimizer keeps {:?}",
                    t.name, t.index, names
                )));
            };
            check_domain(t)?;
            // Parameters `0..n` with at least one buffer each need at least `n` buffers, so a
            // larger index leaves a gap (and would cost memory for every index below it).
            if t.index >= state.tensors.len() {
                return Err(format_error(format!(
                    "buffer {:?} belongs to parameter {}, but the state has buffers for only {} \
                     parameters (they are numbered from 0 without gaps)",
                    t.name,
                    t.index,
                    state.tensors.len()
                )));
            }
            if slots.len() <= t.index {
                slots.resize_with(t.index + 1, Vec::new);
            }
            let slot = &mut slots[t.index];
            if slot.is_empty() {
                slot.resize(names.len(), None);
            }
            if slot[k].is_some() {
                return Err(format_error(format!(
                    "buffer {:?} of parameter {} appears twice",
                    t.name, t.index
                )));
            }
            slot[k] = Some(t.value.clone());
        }
        let mut restored = Vec::with_capacity(slots.len());
        for (index, slot) in slots.into_iter().enumerate() {
            let buffers: Vec<Matrix<T>> = slot.into_iter().flatten().collect();
            if buffers.is_empty() {
                return Err(format_error(format!(
                    "parameter {index} has no buffers, but a later parameter has; the parameters \
                     with buffers are numbered from 0 without gaps"
                )));
            }
            if buffers.len() != names.len() {
                return Err(format_error(format!(
                    "parameter {index} has {} of the buffers {:?}; all or none are needed",
                    buffers.len(),
                    names
                )));
            }
            if buffers.iter().any(|m| m.shape() != buffers[0].shape()) {
                return Err(format_error(format!(
                    "the buffers of parameter {index} have different shapes"
                )));
            }
            restored.push(buffers);
        }
        self.slots = restored;
        Ok(())
    }
}

/// The buffers that are sums or running means of squares, never negative (a negative one would
/// make the next update take the square root of a negative number).
const NON_NEGATIVE: &[&str] = &["exp_avg_sq", "square_avg", "sum"];

/// Checks that every entry of a buffer is finite, and not negative if it is a sum of squares.
fn check_domain<T: Float>(t: &StateTensor<T>) -> Result<()> {
    let rows = t.value.nrows().max(1);
    let what = || format!("optimizer buffer {:?} of parameter {}", t.name, t.index);
    if let Some((pos, value)) = t.value.iter().enumerate().find(|(_, v)| !v.finite()) {
        return Err(Error::NonFinite {
            what: what(),
            row: pos % rows,
            col: pos / rows,
            value: value.as_f64(),
        });
    }
    if NON_NEGATIVE.contains(&t.name.as_str())
        && let Some((pos, value)) = t.value.iter().enumerate().find(|(_, v)| **v < T::zero())
    {
        return Err(format_error(format!(
            "{} has the negative value {} at row {}, column {}; it is a sum of squares",
            what(),
            value.as_f64(),
            pos % rows,
            pos / rows
        )));
    }
    Ok(())
}

/// The buffers of one parameter, read by [`Slots::peek`].
pub(crate) struct Buffers<'a, T: Float>(&'a [Matrix<T>]);

impl<'a, T: Float> Buffers<'a, T> {
    /// Buffer `k` (in the optimizer's name order) as a slice.
    pub(crate) fn buffer(&self, k: usize) -> &'a [T] {
        self.0[k].as_slice()
    }
}

/// What every optimizer of the crate keeps besides its hyperparameters: the learning rate, the
/// step count and the per-parameter buffers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Core<T: Float> {
    pub(crate) lr: T,
    pub(crate) step: u64,
    pub(crate) slots: Slots<T>,
}

impl<T: Float> Core<T> {
    /// A fresh core with learning rate `lr`.
    pub(crate) fn new(lr: T) -> Result<Self> {
        Ok(Core {
            lr: check_initial_lr(lr)?,
            step: 0,
            slots: Slots::default(),
        })
    }

    /// Forgets the buffers and the step count.
    pub(crate) fn reset(&mut self) {
        self.step = 0;
        self.slots.clear();
    }

    /// The step count, at least 1 (Adam's `t`, Adagrad's decay), even if `begin_step` was skipped.
    pub(crate) fn t(&self) -> u64 {
        self.step.max(1)
    }

    pub(crate) fn load(&mut self, names: &[&'static str], state: &OptimizerState<T>) -> Result<()> {
        self.slots.import(names, state)?;
        self.step = state.step;
        Ok(())
    }
}

/// The [`Optimizer`](crate::Optimizer) methods that only touch a `core: Core<T>` field, for a type
/// with a `names(&self) -> &'static [&'static str]` method listing its buffers.
macro_rules! core_methods {
    () => {
        fn begin_step(&mut self) {
            self.core.step += 1;
        }

        fn reset(&mut self) {
            self.core.reset();
        }

        fn learning_rate(&self) -> T {
            self.core.lr
        }

        fn set_learning_rate(&mut self, lr: T) -> Result<()> {
            self.core.lr = super::state::check_lr(lr)?;
            Ok(())
        }

        fn state(&self) -> OptimizerState<T> {
            self.core.slots.export(self.names(), self.core.step)
        }

        fn load_state(&mut self, state: &OptimizerState<T>) -> Result<()> {
            let names = self.names();
            self.core.load(names, state)
        }
    };
}
pub(crate) use core_methods;

/// The [`Checked`](super::Checked) methods that reach the `core: Core<T>` field, for the same
/// types as [`core_methods`].
macro_rules! core_access {
    () => {
        fn core(&self) -> &Core<T> {
            &self.core
        }

        fn core_mut(&mut self) -> &mut Core<T> {
            &mut self.core
        }

        fn buffers(&self) -> usize {
            self.names().len()
        }
    };
}
pub(crate) use core_access;

/// `Ok(lr)` if a starting learning rate is finite and positive: an optimizer built with a zero
/// rate would silently never learn.
pub(crate) fn check_initial_lr<T: Float>(lr: T) -> Result<T> {
    check(
        "learning rate",
        lr,
        lr > T::zero(),
        "must be finite and positive",
    )
}

/// `Ok(lr)` if a learning rate is finite and not negative (PyTorch accepts 0, which a cosine
/// schedule reaches).
pub(crate) fn check_lr<T: Float>(lr: T) -> Result<T> {
    check(
        "learning rate",
        lr,
        lr >= T::zero(),
        "must be finite and not negative",
    )
}

/// `Ok(value)` if `value` is finite and `ok` holds, else [`Error::InvalidParameter`].
pub(crate) fn check<T: Float>(
    name: &'static str,
    value: T,
    ok: bool,
    reason: &'static str,
) -> Result<T> {
    if value.finite() && ok {
        Ok(value)
    } else {
        Err(Error::param(name, value.as_f64(), reason))
    }
}

/// `Ok(value)` if `0 <= value < 1` (momentum, decay rates, betas).
pub(crate) fn check_unit<T: Float>(name: &'static str, value: T) -> Result<T> {
    check(
        name,
        value,
        value >= T::zero() && value < T::one(),
        "must be in [0, 1)",
    )
}

/// `Ok(value)` if `value` is finite and not negative (weight decay, accumulator start values).
pub(crate) fn check_non_negative<T: Float>(name: &'static str, value: T) -> Result<T> {
    check(
        name,
        value,
        value >= T::zero(),
        "must be finite and not negative",
    )
}

/// `Ok(value)` if `value` is finite and positive (eps).
pub(crate) fn check_positive<T: Float>(name: &'static str, value: T) -> Result<T> {
    check(
        name,
        value,
        value > T::zero(),
        "must be finite and positive",
    )
}
