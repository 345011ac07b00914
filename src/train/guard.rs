//! The divergence guard: a training step never leaves a NaN or infinite parameter or optimizer
//! state behind, and a step that would is undone exactly.
//!
//! Two ways to check, with the same bits as a result:
//!
//! - **every step** ([`Guard::step`]): the crate's optimizers judge each update before it is made
//!   ([`Checked::stays_finite`]); a user's optimizer, or an update that cannot be vouched for, is
//!   made on a copy of the parameters and the optimizer's state, which is put back if the step
//!   leaves anything non-finite;
//! - **at the end of a run of steps** ([`Guard::begin_run`], [`Guard::unchecked_step`],
//!   [`Guard::end_run`]): for optimizers whose non-finite values stay non-finite
//!   ([`Checked::end_checkable`]) on a model whose steps can be replayed, the parameters and the
//!   state are copied once, the steps run unchecked, and a run that ends non-finite is undone and
//!   replayed checked step by step, which finds the diverging step.

use crate::optim::{Checked, ClipGradNorm, OptimizerState};
use crate::{Error, Float, MatrixView, Optimizer, Sequential};

/// Why the guard stopped a training step: something became non-finite, or the step was refused
/// as misuse (a gradient of another shape, an optimizer holding another model's state, a user's
/// optimizer that resized a parameter). Either way the parameters and the optimizer's state are
/// as before the step.
#[derive(Debug, Clone)]
pub(crate) enum Divergence {
    /// A value became NaN or infinite.
    NonFinite {
        what: &'static str,
        layer: Option<usize>,
    },
    /// The step was refused with this error.
    Refused(Error),
}

impl Divergence {
    /// The error for this divergence at `epoch` and `step`.
    pub(crate) fn at(self, epoch: usize, step: usize) -> Error {
        match self {
            Divergence::NonFinite { what, layer } => Error::Diverged {
                epoch,
                step,
                what,
                layer,
            },
            Divergence::Refused(e) => e,
        }
    }
}

/// What the guard copies of the optimizer's state before an update it cannot vouch for.
enum Before<T: Float> {
    /// The crate optimizer's buffers, as they are (so that any state, even one that could not
    /// be loaded back, is restored exactly).
    Core(crate::optim::Core<T>),
    /// A user optimizer's own snapshot.
    State(OptimizerState<T>),
}

/// The optimizer as the guard sees it.
enum Opt<'o, T: Float> {
    /// One of the crate's, which judges its own updates.
    Crate(&'o mut dyn Checked<T>),
    /// A user's: every step is taken on copies.
    User(&'o mut dyn Optimizer<T>),
}

/// The guard of one training call: the optimizer, gradient clipping and the copies it takes.
pub(crate) struct Guard<'o, T: Float> {
    opt: Opt<'o, T>,
    clip: Option<ClipGradNorm<T>>,
    /// The parameters before the step or run in progress (reused from step to step).
    params: Vec<T>,
    /// Their shapes, before a user optimizer's update (which might resize one).
    shapes: Vec<(usize, usize)>,
    /// The crate optimizer's buffers and step count before the run in progress.
    state: Vec<T>,
    step: u64,
    /// Whether the crate optimizer has its state for every parameter.
    ready: bool,
}

impl<'o, T: Float> Guard<'o, T> {
    /// The guard for `opt`, clipping every step's gradients with `clip`.
    pub(crate) fn new(opt: &'o mut dyn Optimizer<T>, clip: Option<ClipGradNorm<T>>) -> Self {
        // The one place that asks whether an optimizer is the crate's own.
        let opt = match crate::optim::checked(opt) {
            Ok(checked) => Opt::Crate(checked),
            Err(user) => Opt::User(user),
        };
        Guard {
            opt,
            clip,
            params: Vec::new(),
            shapes: Vec::new(),
            state: Vec::new(),
            step: 0,
            ready: false,
        }
    }

    /// The optimizer, for its learning rate.
    pub(crate) fn optimizer(&mut self) -> &mut dyn Optimizer<T> {
        match &mut self.opt {
            Opt::Crate(o) => *o,
            Opt::User(o) => *o,
        }
    }

    /// Whether runs of steps can be checked at their end: no clipping, an optimizer whose
    /// non-finite values stay so; the model's steps must be replayable too (the plan's part).
    pub(crate) fn end_checkable(&self) -> bool {
        self.clip.is_none() && matches!(&self.opt, Opt::Crate(o) if o.end_checkable())
    }

    /// One guarded training step on validated rows (for which the buffers are reserved):
    /// forward, backward, and an update that is applied only if the loss, every gradient and
    /// every updated parameter are finite. On divergence every parameter is exactly as before
    /// the step, and the batch is kept as `layer_output(0)`.
    ///
    /// Unless `keep_input` is set, the first layer reads `x` where it lies (so the batch is not
    /// copied) and [`layer_output(0)`](Sequential::layer_output) is left as it was.
    pub(crate) fn step(
        &mut self,
        model: &mut Sequential<T>,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        keep_input: bool,
    ) -> Result<T, Divergence> {
        let in_place = !keep_input;
        let result = self.step_in(model, x, y, in_place);
        if in_place && result.is_err() {
            model.store_input(x);
        }
        result
    }

    fn step_in(
        &mut self,
        model: &mut Sequential<T>,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        in_place: bool,
    ) -> Result<T, Divergence> {
        let loss = forward_backward(model, x, y, in_place);
        // Checked before the optimizer changes anything, so that its state stays clean too.
        if !loss.finite() {
            return Err(diverged(model, "loss", None));
        }
        if let Some(clip) = &self.clip {
            if let Some(layer) = model.first_nonfinite_gradient() {
                return Err(diverged(model, "gradient", Some(layer)));
            }
            if model.clip_unchecked(clip).is_err() {
                // Finite gradients whose squares overflow even in f64.
                return Err(diverged(model, "gradient", None));
            }
        }
        self.update(model)?;
        Ok(loss)
    }

    /// The update of a step, guarded: if the optimizer cannot vouch that every parameter and its
    /// state stay finite, misuse (see [`Divergence::Refused`]) and a NaN or infinite gradient
    /// are reported before anything changes; otherwise the parameters and the optimizer's state
    /// are copied first, and put back if the update leaves anything NaN or infinite or, for a
    /// user's optimizer, a parameter of another shape.
    fn update(&mut self, model: &mut Sequential<T>) -> Result<(), Divergence> {
        if let Opt::Crate(opt) = &mut self.opt {
            let mut count = 0;
            let vouched = model.parameters().all(|(_, p)| {
                count += 1;
                opt.stays_finite(count - 1, p.value, p.grad)
            });
            // A `true` for every parameter also means that each has buffers of its shape; a
            // state for more parameters is another model's, refused below.
            if vouched && opt.at_most(count) {
                // A `true` also means that every gradient is finite, so they need no scan.
                return model.update_unchecked(*opt).map_err(|e| refused(model, e));
            }
        }
        if let Err(e) = self.check(model) {
            return Err(refused(model, e));
        }
        if let Some(layer) = model.first_nonfinite_gradient() {
            return Err(diverged(model, "gradient", Some(layer)));
        }
        // Copies taken only here (for the crate's optimizers: a first step, or a step near
        // overflow); a stateless optimizer's state is empty and costs nothing.
        let before = match &self.opt {
            Opt::Crate(o) => Before::Core(o.core().clone()),
            Opt::User(o) => Before::State(o.state()),
        };
        let updated = match &mut self.opt {
            Opt::Crate(o) => {
                model.copy_params_to(&mut self.params);
                model.update_unchecked(*o)
            }
            Opt::User(o) => model.update_user(*o, &mut self.params, &mut self.shapes),
        };
        if let Err(e) = updated {
            // `update_user` has put the parameters back already.
            if let Opt::Crate(_) = self.opt {
                model.restore_params_from(&self.params);
            }
            self.put_back(before);
            return Err(refused(model, e));
        }
        let failed = match model.first_nonfinite_param() {
            Some(layer) => Some(("parameter", layer)),
            None => match &self.opt {
                // The crate's optimizers answer for their state in place; others hand over a copy.
                Opt::Crate(o) if o.state_finite() => None,
                _ => model
                    .first_nonfinite_state(&self.optimizer().state())
                    .map(|layer| ("optimizer state", layer)),
            },
        };
        let Some((what, layer)) = failed else {
            return Ok(());
        };
        model.restore_params_from(&self.params);
        self.put_back(before);
        Err(diverged(model, what, Some(layer)))
    }

    /// Checks, before an update the optimizer did not vouch for, that every gradient has its
    /// parameter's shape and that a crate optimizer's state belongs to this model.
    fn check(&self, model: &mut Sequential<T>) -> crate::Result<()> {
        model.check_gradient_shapes()?;
        match &self.opt {
            Opt::Crate(o) => o.fits(model),
            Opt::User(_) => Ok(()),
        }
    }

    /// Puts back the optimizer's state copied before an update.
    fn put_back(&mut self, before: Before<T>) {
        match (&mut self.opt, before) {
            (Opt::Crate(o), Before::Core(core)) => *o.core_mut() = core,
            // `state` came from this optimizer a moment ago, so it is accepted back.
            (Opt::User(o), Before::State(state)) => drop(o.load_state(&state)),
            _ => unreachable!("copied from the same optimizer"),
        }
    }

    /// Starts a run of steps checked at its end: copies the parameters and the optimizer's
    /// state. `false` (nothing done) while the optimizer still creates state for some parameter,
    /// whose step must be taken guarded; the first time, room for the copy is made.
    pub(crate) fn begin_run(&mut self, model: &Sequential<T>) -> bool {
        let Opt::Crate(opt) = &mut self.opt else {
            return false;
        };
        // Once every parameter has its state, no later step of the run creates any; a state of
        // another model is never ready, and its step is refused guarded.
        self.ready = self.ready || opt.ready(model);
        if !self.ready {
            // Room for the copy of the state that the step about to be taken creates, so that
            // the steps after it allocate nothing.
            let len = opt.state_len(model.num_parameters());
            self.state.reserve(len.saturating_sub(self.state.len()));
            return false;
        }
        self.step = opt.save(&mut self.state);
        model.copy_params_to(&mut self.params);
        true
    }

    /// A step of a run begun by [`begin_run`](Self::begin_run): forward, backward and update
    /// without asking the optimizer; `None` (and no update) if the loss is not finite.
    pub(crate) fn unchecked_step(
        &mut self,
        model: &mut Sequential<T>,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        keep_input: bool,
    ) -> Option<T> {
        let loss = forward_backward(model, x, y, !keep_input);
        if !loss.finite() {
            return None;
        }
        // A failure (a gradient of another shape, which the replayable layers never store)
        // ends the run, which is then replayed guarded step by step.
        model.update_unchecked(self.optimizer()).ok()?;
        Some(loss)
    }

    /// Ends a run begun by [`begin_run`](Self::begin_run): whether it stands. A run whose steps
    /// all had finite losses stands if every parameter and state buffer is finite; otherwise the
    /// parameters and the state are put back as they were when the run began.
    pub(crate) fn end_run(&mut self, model: &mut Sequential<T>, losses_finite: bool) -> bool {
        let Opt::Crate(opt) = &mut self.opt else {
            unreachable!("runs are begun for the crate's optimizers only")
        };
        if losses_finite && model.first_nonfinite_param().is_none() && opt.state_finite() {
            return true;
        }
        model.restore_params_from(&self.params);
        opt.restore(&self.state, self.step);
        false
    }
}

/// Forward and backward passes of a training step on validated rows; the batch loss.
fn forward_backward<T: Float>(
    model: &mut Sequential<T>,
    x: MatrixView<'_, T>,
    y: MatrixView<'_, T>,
    in_place: bool,
) -> T {
    model.set_mode(true);
    model.forward_rows(x, in_place);
    model.backward_unchecked(y, in_place.then_some(x))
}

/// Marks the stored gradients unusable (so [`Sequential::update`] refuses them) and names what
/// diverged.
fn diverged<T: Float>(
    model: &mut Sequential<T>,
    what: &'static str,
    layer: Option<usize>,
) -> Divergence {
    model.discard_gradients();
    Divergence::NonFinite { what, layer }
}

/// Marks the stored gradients unusable and refuses the step with `error`.
fn refused<T: Float>(model: &mut Sequential<T>, error: Error) -> Divergence {
    model.discard_gradients();
    Divergence::Refused(error)
}
