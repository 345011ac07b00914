//! The book's own networks: two dense layers, at most four inputs and four hidden units, and one
//! output (the streetlight network is 3-4-1), trained with every size known when compiling and
//! the weights held in local arrays for the whole run, so that a step is the chapter's arithmetic
//! and little else.
//!
//! Each value is computed with the same operations in the same order as the general path (and
//! the per-layer fused loop), so the three give the same bits.

use super::{AfterEpoch, Epochs, LayerWork};
use crate::activation::Elementwise;
use crate::layer::DenseParts;
use crate::model::Divergence;
use crate::optim::plain_value;
use crate::{Float, MatrixView, Optimizer, Sgd};

/// A two-layer model's parts and the run to train it for (as `Sequential::fused_epochs` was
/// asked).
pub(super) struct TwoLayers<'p, 'a, 'f, T: Float> {
    pub(super) first: &'p mut DenseParts<'a, T>,
    pub(super) second: &'p mut DenseParts<'a, T>,
    pub(super) acts: [Elementwise; 2],
    /// The second layer's units.
    pub(super) outputs: usize,
    pub(super) x: MatrixView<'p, T>,
    pub(super) y: MatrixView<'p, T>,
    pub(super) alpha: T,
    pub(super) lambda: T,
    pub(super) sgd: &'p mut Sgd<T>,
    pub(super) accuracy: bool,
    pub(super) epochs: usize,
    pub(super) after: &'p mut AfterEpoch<'f, T>,
    /// Each layer's output for one row (the input first), written after the last step.
    pub(super) outs: &'p mut [&'a mut [T]],
    /// Each layer's delta for one row, written after the last step.
    pub(super) dels: &'p mut [&'a mut [T]],
    pub(super) has_gradients: &'p mut bool,
}

impl<T: Float> LayerWork for TwoLayers<'_, '_, '_, T> {
    type Output = Option<Epochs>;

    /// The first layer's shape is `K x H`.
    #[inline(always)]
    fn run<const K: usize, const H: usize>(self) -> Option<Epochs> {
        if K == 0 {
            return None;
        }
        // One output, as every network of the chapter has: each further width would be sixteen
        // more copies of the loop in the binary.
        (self.outputs == 1).then(|| self.train::<K, H, 1>())
    }
}

/// A layer's weights, `K` rows of `J` (entry `(p, j)` at `[p][j]`, so that the loops over `j`
/// are vector operations), its bias, and their gradients, held in arrays.
#[derive(Clone, Copy)]
struct Local<T: Float, const K: usize, const J: usize> {
    weights: [[T; J]; K],
    bias: Option<[T; J]>,
    weight_delta: [[T; J]; K],
    bias_delta: [T; J],
}

impl<T: Float, const K: usize, const J: usize> Local<T, K, J> {
    /// The layer's parameters; the layer keeps them column by column (`(p, j)` at `p + j K`).
    fn load(part: &DenseParts<'_, T>) -> Self {
        let zero = T::zero();
        Local {
            weights: std::array::from_fn(|p| std::array::from_fn(|j| part.weights[p + j * K])),
            bias: part
                .bias
                .as_ref()
                .map(|(b, _)| std::array::from_fn(|j| b[j])),
            weight_delta: [[zero; J]; K],
            bias_delta: [zero; J],
        }
    }

    /// Writes the weights, the bias and their gradients back into the layer.
    fn store(&self, part: &mut DenseParts<'_, T>) {
        for p in 0..K {
            for j in 0..J {
                part.weights[p + j * K] = self.weights[p][j];
                part.weight_delta[p + j * K] = self.weight_delta[p][j];
            }
        }
        if let (Some((b, g)), Some(bias)) = (&mut part.bias, &self.bias) {
            b.copy_from_slice(bias);
            g.copy_from_slice(&self.bias_delta);
        }
    }

    /// `output = f(input . weights + bias)`, each sum from zero in order of the inputs.
    #[inline(always)]
    fn forward(&self, f: Elementwise, input: &[T; K], output: &mut [T; J]) {
        let mut s = [T::zero(); J];
        for (&a, row) in input.iter().zip(&self.weights) {
            for (s, &w) in s.iter_mut().zip(row) {
                *s += a * w;
            }
        }
        if let Some(b) = &self.bias {
            for (s, &b) in s.iter_mut().zip(b) {
                *s += b;
            }
        }
        f.forward_all(&mut s);
        *output = s;
    }

    /// `weight_delta = input.T . delta` and the bias delta (`0 + x`, as the product computes it).
    #[inline(always)]
    fn gradients(&mut self, input: &[T; K], delta: &[T; J]) {
        let zero = T::zero();
        for (row, &a) in self.weight_delta.iter_mut().zip(input) {
            for (g, &d) in row.iter_mut().zip(delta) {
                *g = zero + a * d;
            }
        }
        for (g, &d) in self.bias_delta.iter_mut().zip(delta) {
            *g = zero + d;
        }
    }

    /// `grad_in = (delta . weights.T) * f'(input)`, each sum from zero in order of the outputs.
    #[inline(always)]
    fn delta_in(&self, f: Elementwise, input: &[T; K], delta: &[T; J], grad_in: &mut [T; K]) {
        let mut s = [T::zero(); K];
        for (j, &d) in delta.iter().enumerate() {
            for (s, row) in s.iter_mut().zip(&self.weights) {
                *s += d * row[j];
            }
        }
        f.backward_all(&mut s, input);
        *grad_in = s;
    }

    /// One step of plain gradient descent on the weights and the bias, in place. Returns the
    /// sum of the new values, which is finite when they all are (and may overflow when they are
    /// not).
    #[inline(always)]
    fn step(&mut self, alpha: T, lambda: T) -> T {
        let zero = T::zero();
        let mut sums = [zero; J];
        if lambda == zero {
            // The same function with a constant zero, so that the test leaves the loops.
            self.step_with(alpha, zero, &mut sums);
        } else {
            self.step_with(alpha, lambda, &mut sums);
        }
        sums.iter().fold(zero, |a, &b| a + b)
    }

    #[inline(always)]
    fn step_with(&mut self, alpha: T, lambda: T, sums: &mut [T; J]) {
        for (row, grads) in self.weights.iter_mut().zip(&self.weight_delta) {
            for ((w, &g), s) in row.iter_mut().zip(grads).zip(sums.iter_mut()) {
                *w = plain_value(*w, g, alpha, lambda);
                *s += *w;
            }
        }
        if let Some(bias) = &mut self.bias {
            for ((b, &g), s) in bias.iter_mut().zip(&self.bias_delta).zip(sums.iter_mut()) {
                *b = plain_value(*b, g, alpha, lambda);
                *s += *b;
            }
        }
    }

    /// The weights and the bias.
    #[inline(always)]
    fn params(&self) -> ([[T; J]; K], Option<[T; J]>) {
        (self.weights, self.bias)
    }

    #[inline(always)]
    fn set_params(&mut self, (weights, bias): ([[T; J]; K], Option<[T; J]>)) {
        (self.weights, self.bias) = (weights, bias);
    }

    fn finite(&self) -> bool {
        let finite = |v: &[T]| v.iter().all(|v| v.finite());
        self.weights.iter().all(|r| finite(r)) && self.bias.as_ref().is_none_or(|b| finite(b))
    }

    fn gradients_finite(&self) -> bool {
        let finite = |g: &[T]| g.iter().all(|g| g.finite());
        self.weight_delta.iter().all(|r| finite(r))
            && (self.bias.is_none() || finite(&self.bias_delta))
    }
}

/// The state of a run between steps: both layers, the data, and what the last step computed.
struct Run<'x, T: Float, const K: usize, const H: usize, const O: usize> {
    weights_0_1: Local<T, K, H>,
    weights_1_2: Local<T, H, O>,
    acts: [Elementwise; 2],
    xs: [&'x [T]; K],
    ys: [&'x [T]; O],
    y: MatrixView<'x, T>,
    alpha: T,
    lambda: T,
    accuracy: bool,
    layer_0: [T; K],
    layer_1: [T; H],
    layer_2: [T; O],
    layer_1_delta: [T; H],
    layer_2_delta: [T; O],
}

/// Both layers' weights and biases.
type Params<T, const K: usize, const H: usize, const O: usize> =
    (([[T; H]; K], Option<[T; H]>), ([[T; O]; H], Option<[T; O]>));

impl<T: Float, const K: usize, const H: usize, const O: usize> Run<'_, T, K, H, O> {
    fn params(&self) -> Params<T, K, H, O> {
        (self.weights_0_1.params(), self.weights_1_2.params())
    }

    fn set_params(&mut self, (first, second): Params<T, K, H, O>) {
        self.weights_0_1.set_params(first);
        self.weights_1_2.set_params(second);
    }

    /// One epoch over the rows: the sum of their losses and the rows classified right.
    ///
    /// `GUARD` checks every step as the general path does: nothing is changed unless the loss,
    /// every gradient and every updated weight are finite, and the first step that fails is
    /// reported with the weights as before it. Without it the epoch runs unchecked: a loss that
    /// is not finite stays so in the epoch's sum (losses are never negative), and a gradient or
    /// an update that is not finite leaves a weight that no later step makes finite again
    /// (`w - alpha * g` is not finite when `w` or `g` is not), so checking the sum and the
    /// weights afterwards tells whether a guarded epoch would have failed.
    #[inline(always)]
    fn epoch<const GUARD: bool>(
        &mut self,
        sgd: &mut Sgd<T>,
    ) -> std::result::Result<(T, usize), (usize, Divergence)> {
        let zero = T::zero();
        let [f1, f2] = self.acts;
        let (alpha, lambda) = (self.alpha, self.lambda);
        let (mut total, mut correct) = (zero, 0);
        for row in 0..self.y.nrows() {
            let Run {
                weights_0_1,
                weights_1_2,
                layer_0,
                layer_1,
                layer_2,
                layer_1_delta,
                layer_2_delta,
                ..
            } = self;
            for (v, column) in layer_0.iter_mut().zip(&self.xs) {
                *v = column[row];
            }
            // layer_1 = relu(layer_0.dot(weights_0_1)); layer_2 = layer_1.dot(weights_1_2)
            weights_0_1.forward(f1, layer_0, layer_1);
            weights_1_2.forward(f2, layer_1, layer_2);
            // loss = 0.5 * sum((layer_2 - goal) ** 2); layer_2_delta = layer_2 - goal
            let mut sum = zero;
            for o in 0..O {
                let e = layer_2[o] - self.ys[o][row];
                sum += e * e;
                layer_2_delta[o] = f2.backward(e, layer_2[o]);
            }
            let loss = sum * T::of(0.5);
            // layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
            weights_1_2.gradients(layer_1, layer_2_delta);
            weights_1_2.delta_in(f1, layer_1, layer_2_delta, layer_1_delta);
            weights_0_1.gradients(layer_0, layer_1_delta);
            // weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta), and the same below.
            if GUARD {
                let diverged = |what, layer| Err((row, Divergence { what, layer }));
                if !loss.finite() {
                    return diverged("loss", None);
                }
                // Put back unless every new value is finite.
                let saved = (weights_0_1.params(), weights_1_2.params());
                let sum = weights_0_1.step(alpha, lambda) + weights_1_2.step(alpha, lambda);
                // A finite sum means finite values; a sum that overflowed asks them one by one.
                let finite = sum.finite() || (weights_0_1.finite() && weights_1_2.finite());
                if !finite {
                    let overflow = if weights_0_1.finite() { 1 } else { 0 };
                    weights_0_1.set_params(saved.0);
                    weights_1_2.set_params(saved.1);
                    return if !weights_0_1.gradients_finite() {
                        diverged("gradient", Some(0))
                    } else if !weights_1_2.gradients_finite() {
                        diverged("gradient", Some(1))
                    } else {
                        diverged("parameter", Some(overflow))
                    };
                }
                sgd.begin_step();
            } else {
                weights_0_1.step(alpha, lambda);
                weights_1_2.step(alpha, lambda);
            }
            if self.accuracy {
                correct += crate::metrics::count_correct(
                    crate::linalg::view(layer_2, 1, O),
                    self.y.rows(row, 1),
                );
            }
            total += loss;
        }
        Ok((total, correct))
    }
}

impl<T: Float> TwoLayers<'_, '_, '_, T> {
    /// The run, for a `K`-`H`-`O` network. Each epoch runs unchecked from a copy of the weights;
    /// only one that ends with a non-finite loss or weight is run again from the copy with every
    /// step checked, so the outcome is the guarded one, bit for bit.
    #[inline(never)]
    fn train<const K: usize, const H: usize, const O: usize>(self) -> Epochs {
        let TwoLayers {
            first,
            second,
            acts,
            x,
            y,
            alpha,
            lambda,
            sgd,
            accuracy,
            epochs,
            after,
            outs,
            dels,
            has_gradients,
            ..
        } = self;
        let zero = T::zero();
        let rows = x.nrows();
        let mut run = Run::<T, K, H, O> {
            weights_0_1: Local::load(first),
            weights_1_2: Local::load(second),
            acts,
            xs: std::array::from_fn(|c| &crate::linalg::column(&x, c)[..rows]),
            ys: std::array::from_fn(|c| &crate::linalg::column(&y, c)[..rows]),
            y,
            alpha,
            lambda,
            accuracy,
            layer_0: [zero; K],
            layer_1: [zero; H],
            layer_2: [zero; O],
            layer_1_delta: [zero; H],
            layer_2_delta: [zero; O],
        };
        let mut outcome = Ok(());
        for epoch in 0..epochs {
            let checkpoint = run.params();
            let unchecked = run.epoch::<false>(sgd);
            let (total, correct) = match unchecked {
                Ok((total, correct))
                    if total.finite() && run.weights_0_1.finite() && run.weights_1_2.finite() =>
                {
                    for _ in 0..rows {
                        sgd.begin_step();
                    }
                    (total, correct)
                }
                _ => {
                    run.set_params(checkpoint);
                    match run.epoch::<true>(sgd) {
                        Ok(done) => done,
                        Err((row, divergence)) => {
                            outcome = Err((epoch, row, divergence));
                            break;
                        }
                    }
                }
            };
            if after(epoch, total, correct) {
                break;
            }
        }
        // Every epoch steps through every row (the data has at least one).
        if epochs > 0 && rows > 0 {
            run.weights_0_1.store(first);
            run.weights_1_2.store(second);
            // What the last step computed, as the general path leaves it.
            outs[0].copy_from_slice(&run.layer_0);
            outs[1].copy_from_slice(&run.layer_1);
            outs[2].copy_from_slice(&run.layer_2);
            dels[0].copy_from_slice(&run.layer_1_delta);
            dels[1].copy_from_slice(&run.layer_2_delta);
            *has_gradients = outcome.is_ok();
        }
        outcome
    }
}
