//! The fused loop of small networks: one-row steps of plain gradient descent through dense layers.
//!
//! A step of the book's 3-4-1 network is some forty multiply-adds; through the general path it also
//! makes some twenty calls through trait objects and builds as many matrix views, which cost more
//! than the arithmetic. When every layer is a [`Dense`] with an element-wise built-in activation,
//! the loss is [`SquaredError`](crate::SquaredError) and the optimizer is [`Sgd`] without
//! momentum, one-row epochs run here instead: the same delta rule on plain slices, computing every
//! value with the same operations in the same order as the general path, so the two give
//! bit-identical weights (a test checks it on random networks). `fit` hands over all its epochs
//! at once when it has nothing to do between them that needs the model (validation, early
//! stopping, a schedule, shuffling), so the setup below is paid once per `fit`. The book's own
//! networks (two layers, one output) take the kernel of `two_layers.rs`.

use std::any::Any;

mod two_layers;

use super::{Divergence, Sequential};
use crate::activation::Elementwise;
use crate::layer::DenseParts;
use crate::optim::plain_value;
use crate::validate::all_finite;
use crate::{Dense, Float, MatrixView, Optimizer, Sgd};

/// Layers a fused model may have (the parts of each are held in an array on the stack).
pub(super) const MAX_LAYERS: usize = 8;

/// What a run of fused epochs ended with: `Ok` when every epoch ran or the caller stopped it, or
/// the epoch and the step in it that diverged, and why.
pub(crate) type Epochs = std::result::Result<(), (usize, usize, Divergence)>;

/// Called after every fused epoch with its number, the sum of its rows' losses and the rows
/// classified right; returns whether to stop.
pub(crate) type AfterEpoch<'f, T> = dyn FnMut(usize, T, usize) -> bool + 'f;

impl<T: Float> Sequential<T> {
    /// The activations of a model the fused loop can train: every layer a [`Dense`] with an
    /// element-wise built-in activation, and the squared-error loss.
    pub(super) fn fusable(
        layers: &[Box<dyn crate::Layer<T>>],
        loss: &dyn crate::Loss<T>,
    ) -> Option<Vec<Elementwise>> {
        let loss: &dyn Any = loss;
        if !loss.is::<crate::SquaredError>() || layers.len() > MAX_LAYERS {
            return None;
        }
        layers
            .iter()
            .map(|layer| {
                let any: &dyn Any = layer.as_ref();
                any.downcast_ref::<Dense<T>>()?;
                Elementwise::of(layer.activation()?)
            })
            .collect()
    }

    /// Up to `epochs` epochs of one-row steps over validated rows, in order, through the fused
    /// loop, calling `after` at the end of each; `None` (nothing done) if the model or the
    /// optimizer is not one it handles.
    ///
    /// `after` is given the sum of the epoch's row losses, as the general path's epoch computes
    /// it, and the rows classified right when `accuracy` is set.
    #[inline(never)]
    pub(crate) fn fused_epochs(
        &mut self,
        x: MatrixView<'_, T>,
        y: MatrixView<'_, T>,
        opt: &mut dyn Optimizer<T>,
        accuracy: bool,
        epochs: usize,
        after: &mut AfterEpoch<'_, T>,
    ) -> Option<Epochs> {
        self.fused.as_ref()?;
        let opt: &mut dyn Any = opt;
        let sgd = opt.downcast_mut::<Sgd<T>>()?;
        let (alpha, lambda) = sgd.plain()?;
        self.set_mode(true);
        self.fit_rows(1);
        let Sequential {
            layers,
            outputs,
            deltas,
            widths,
            fused: Some(acts),
            has_gradients,
            snapshot,
            ..
        } = self
        else {
            return None;
        };
        let n = layers.len();
        let mut parts: [Option<DenseParts<'_, T>>; MAX_LAYERS] = Default::default();
        for (slot, layer) in parts.iter_mut().zip(layers.iter_mut()) {
            let any: &mut dyn Any = layer.as_mut();
            *slot = Some(any.downcast_mut::<Dense<T>>()?.parts_mut());
        }
        let parts = &mut parts[..n];
        // Each layer's output and delta for one row, sliced once.
        let mut outs: [&mut [T]; MAX_LAYERS + 1] = Default::default();
        for ((slot, buf), &w) in outs.iter_mut().zip(outputs.iter_mut()).zip(widths.iter()) {
            *slot = &mut buf[..w];
        }
        let mut dels: [&mut [T]; MAX_LAYERS] = Default::default();
        for ((slot, buf), &w) in dels.iter_mut().zip(deltas.iter_mut()).zip(&widths[1..]) {
            *slot = &mut buf[..w];
        }
        let (outs, dels) = (&mut outs[..=n], &mut dels[..n]);
        let mut shapes = [16; MAX_LAYERS];
        for (code, l) in shapes.iter_mut().zip(0..n) {
            *code = shape_code(widths[l], widths[l + 1]);
        }
        if let [Some(first), Some(second)] = parts
            && shapes[0] < 16
            && shapes[1] < 16
        {
            let net = two_layers::TwoLayers {
                first,
                second,
                acts: [acts[0], acts[1]],
                outputs: widths[2],
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
            };
            return with_shape(shapes[0], net);
        }
        // Where each layer's weights and bias start in the snapshot, and where the last ends.
        let mut starts = [0; MAX_LAYERS + 1];
        for (l, part) in parts.iter().flatten().enumerate() {
            starts[l + 1] = starts[l] + part.len();
        }
        let total_params = starts[n];
        if snapshot.len() < total_params {
            // Only on the first fused run of a model.
            snapshot.resize(total_params, T::zero());
        }
        let last = n - 1;
        let zero = T::zero();
        for epoch in 0..epochs {
            let (mut total, mut correct) = (zero, 0);
            for row in 0..x.nrows() {
                // layer_0 = x[row]
                for (c, v) in outs[0].iter_mut().enumerate() {
                    *v = x[(row, c)];
                }
                for l in 0..n {
                    let (before, after) = outs.split_at_mut(l + 1);
                    let Some(part) = &parts[l] else { return None };
                    let (input, output) = (&*before[l], &mut *after[0]);
                    with_shape(shapes[l], Forward(part, acts[l], input, output));
                }
                // loss = 0.5 * sum((layer_2 - goal) ** 2); layer_2_delta = layer_2 - goal
                let pred = &*outs[n];
                let delta = &mut *dels[last];
                let mut sum = zero;
                for (j, (d, &p)) in delta.iter_mut().zip(pred).enumerate() {
                    let e = p - y[(row, j)];
                    sum += e * e;
                    *d = acts[last].backward(e, p);
                }
                let loss = sum * T::of(0.5);
                for l in (0..n).rev() {
                    let (lower, upper) = dels.split_at_mut(l);
                    let delta = &*upper[0];
                    let Some(part) = &mut parts[l] else {
                        return None;
                    };
                    let grad_in = match l {
                        0 => None,
                        _ => Some((&mut *lower[l - 1], acts[l - 1])),
                    };
                    with_shape(shapes[l], Backward(part, &*outs[l], delta, grad_in));
                }
                *has_gradients = true;
                // The divergence guard: nothing is changed unless the loss, every gradient and
                // every updated weight are finite.
                let diverged = |has_gradients: &mut bool, what, layer| {
                    *has_gradients = false;
                    Some(Err((epoch, row, Divergence { what, layer })))
                };
                if !loss.finite() {
                    return diverged(has_gradients, "loss", None);
                }
                // Updated in place after a copy of the (few) weights, put back if one overflows.
                let mut overflow = None;
                for (l, part) in parts.iter_mut().flatten().enumerate() {
                    let saved = &mut snapshot[starts[l]..starts[l + 1]];
                    let update = Update(part, alpha, lambda, saved, widths[l + 1]);
                    if !with_shape(shapes[l], update) {
                        overflow = Some(l);
                        break;
                    }
                }
                if let Some(l) = overflow {
                    // Layers up to and including `l` were updated.
                    for (k, part) in parts.iter_mut().flatten().enumerate().take(l + 1) {
                        part.restore(&snapshot[starts[k]..starts[k + 1]]);
                    }
                    return match first_bad_gradient(parts.iter().flatten()) {
                        Some(g) => diverged(has_gradients, "gradient", Some(g)),
                        None => diverged(has_gradients, "parameter", Some(l)),
                    };
                }
                sgd.begin_step();
                if accuracy {
                    correct += crate::metrics::count_correct(
                        crate::linalg::view(outs[n], 1, widths[n]),
                        y.rows(row, 1),
                    );
                }
                total += loss;
            }
            if after(epoch, total, correct) {
                break;
            }
        }
        Some(Ok(()))
    }
}

/// The first layer whose gradients are not all finite. A NaN or infinite gradient also gives a
/// non-finite weight, and it is named first, as the general path checks every gradient before
/// it updates anything.
fn first_bad_gradient<'p, 'a: 'p, T: Float>(
    parts: impl Iterator<Item = &'p DenseParts<'a, T>>,
) -> Option<usize> {
    parts.into_iter().position(|p| !p.gradients_finite())
}

/// Work on one layer whose inputs `K` and outputs `J` are known when compiling (both 0 when they
/// are not), so that the loops over the book's small layers unroll completely.
trait LayerWork {
    type Output;
    fn run<const K: usize, const J: usize>(self) -> Self::Output;
}

/// The shape code of a layer for [`with_shape`]: `4 (k - 1) + (j - 1)` for `k` inputs and `j`
/// outputs when both are 1 to 4, else 16.
fn shape_code(k: usize, j: usize) -> usize {
    if (1..=4).contains(&k) && (1..=4).contains(&j) {
        4 * (k - 1) + (j - 1)
    } else {
        16
    }
}

/// Runs `work` with `K` and `J` set to the shape of [`shape_code`] `code` (0 and 0 for 16).
#[inline(always)]
fn with_shape<W: LayerWork>(code: usize, work: W) -> W::Output {
    match code {
        0 => work.run::<1, 1>(),
        1 => work.run::<1, 2>(),
        2 => work.run::<1, 3>(),
        3 => work.run::<1, 4>(),
        4 => work.run::<2, 1>(),
        5 => work.run::<2, 2>(),
        6 => work.run::<2, 3>(),
        7 => work.run::<2, 4>(),
        8 => work.run::<3, 1>(),
        9 => work.run::<3, 2>(),
        10 => work.run::<3, 3>(),
        11 => work.run::<3, 4>(),
        12 => work.run::<4, 1>(),
        13 => work.run::<4, 2>(),
        14 => work.run::<4, 3>(),
        15 => work.run::<4, 4>(),
        _ => work.run::<0, 0>(),
    }
}

/// `(k, j)`: the constants, or the sizes when they are not known when compiling.
#[inline(always)]
fn sizes<const K: usize, const J: usize>(inputs: usize, outputs: usize) -> (usize, usize) {
    if K == 0 { (inputs, outputs) } else { (K, J) }
}

struct Forward<'p, 'a, T: Float>(&'p DenseParts<'a, T>, Elementwise, &'p [T], &'p mut [T]);

impl<T: Float> LayerWork for Forward<'_, '_, T> {
    type Output = ();
    #[inline(always)]
    fn run<const K: usize, const J: usize>(self) {
        let Forward(part, f, input, output) = self;
        let (k, j) = sizes::<K, J>(part.inputs, output.len());
        forward(part, f, &input[..k], &mut output[..j], k);
    }
}

struct Backward<'p, 'a, T: Float>(
    &'p mut DenseParts<'a, T>,
    &'p [T],
    &'p [T],
    Option<(&'p mut [T], Elementwise)>,
);

impl<T: Float> LayerWork for Backward<'_, '_, T> {
    type Output = ();
    #[inline(always)]
    fn run<const K: usize, const J: usize>(self) {
        let Backward(part, input, delta, grad_in) = self;
        let (k, j) = sizes::<K, J>(part.inputs, delta.len());
        let grad_in = grad_in.map(|(g, f)| (&mut g[..k], f));
        backward(part, &input[..k], &delta[..j], grad_in, k);
    }
}

struct Update<'p, 'a, T: Float>(&'p mut DenseParts<'a, T>, T, T, &'p mut [T], usize);

impl<T: Float> LayerWork for Update<'_, '_, T> {
    type Output = bool;
    #[inline(always)]
    fn run<const K: usize, const J: usize>(self) -> bool {
        let Update(part, alpha, lambda, saved, outputs) = self;
        let (k, j) = sizes::<K, J>(part.inputs, outputs);
        update(part, alpha, lambda, saved, k * j, j)
    }
}

/// `output = f(input . weights + bias)` for one row, each sum from zero in order of the inputs
/// (four outputs at a time, as the general path).
///
/// `k` inputs.
#[inline(always)]
fn forward<T: Float>(
    part: &DenseParts<'_, T>,
    f: Elementwise,
    input: &[T],
    output: &mut [T],
    k: usize,
) {
    let zero = T::zero();
    // Four columns of weights at a time, then one at a time.
    let j = output.len();
    let mut blocks = output.chunks_exact_mut(4);
    let mut columns = part.weights[..k * j].chunks_exact(4 * k);
    for (block, w) in (&mut blocks).zip(&mut columns) {
        let mut s = [zero; 4];
        for (p, &a) in input.iter().enumerate() {
            for (q, s) in s.iter_mut().enumerate() {
                *s += a * w[q * k + p];
            }
        }
        block.copy_from_slice(&s);
    }
    let rest = blocks.into_remainder();
    for (out, column) in rest.iter_mut().zip(columns.remainder().chunks_exact(k)) {
        let mut s = zero;
        for (&a, &w) in input.iter().zip(column) {
            s += a * w;
        }
        *out = s;
    }
    if let Some((bias, _)) = &part.bias {
        for (out, &b) in output.iter_mut().zip(&bias[..j]) {
            *out += b;
        }
    }
    f.forward_all(output);
}

/// The book's three lines for one row: `weight_delta = input.T . delta`, the bias delta, and
/// `grad_in = (delta . weights.T) * f'(input)` when the layer below needs it.
#[inline(always)]
fn backward<T: Float>(
    part: &mut DenseParts<'_, T>,
    input: &[T],
    delta: &[T],
    grad_in: Option<(&mut [T], Elementwise)>,
    k: usize,
) {
    let j = delta.len();
    let zero = T::zero();
    for (column, &d) in part.weight_delta[..k * j].chunks_exact_mut(k).zip(delta) {
        for (g, &a) in column.iter_mut().zip(input) {
            *g = zero + a * d;
        }
    }
    if let Some((_, bias_delta)) = &mut part.bias {
        for (g, &d) in bias_delta[..j].iter_mut().zip(delta) {
            *g = zero + d;
        }
    }
    if let Some((grad_in, f)) = grad_in {
        // grad_in[q] = sum_j delta[j] * weights[q, j], summed in order of j; the rows of the
        // transposed weights are the contiguous columns.
        grad_in.iter_mut().for_each(|g| *g = zero);
        for (column, &d) in part.weights[..k * j].chunks_exact(k).zip(delta) {
            for (g, &w) in grad_in.iter_mut().zip(column) {
                *g += d * w;
            }
        }
        f.backward_all(grad_in, input);
    }
}

impl<T: Float> DenseParts<'_, T> {
    fn gradients_finite(&self) -> bool {
        all_finite(self.weight_delta) && self.bias.as_ref().is_none_or(|(_, g)| all_finite(g))
    }

    /// Weights and bias entries.
    fn len(&self) -> usize {
        self.weights.len() + self.bias.as_ref().map_or(0, |(b, _)| b.len())
    }

    /// Copies `saved` (as written by [`update`]) back over the weights and the bias.
    fn restore(&mut self, saved: &[T]) {
        let (w, b) = saved.split_at(self.weights.len());
        self.weights.copy_from_slice(w);
        if let Some((bias, _)) = &mut self.bias {
            bias.copy_from_slice(b);
        }
    }
}

/// `weights -= alpha * (weight_delta + lambda * weights)`, and the same for the bias, after
/// copying them to `saved`. Returns whether every updated value is finite.
/// `n` weights and `j` bias entries.
#[inline(always)]
fn update<T: Float>(
    part: &mut DenseParts<'_, T>,
    alpha: T,
    lambda: T,
    saved: &mut [T],
    n: usize,
    j: usize,
) -> bool {
    let (saved_w, saved_b) = saved.split_at_mut(n);
    let (w, g) = (&mut part.weights[..n], &part.weight_delta[..n]);
    let mut finite = step_saving(w, g, &mut saved_w[..n], alpha, lambda);
    if let Some((b, g)) = &mut part.bias {
        finite &= step_saving(&mut b[..j], &g[..j], &mut saved_b[..j], alpha, lambda);
    }
    finite
}

/// [`plain_value`] for each weight, after copying it to `saved`; whether all stay finite.
#[inline(always)]
fn step_saving<T: Float>(w: &mut [T], g: &[T], saved: &mut [T], alpha: T, lambda: T) -> bool {
    let zero = T::zero();
    // `w * 0` is ±0 for a finite weight and NaN otherwise, and NaN survives the sum.
    let mut poison = zero;
    if lambda == zero {
        // The same function with a constant zero, so that the test leaves the loop.
        for ((w, &g), s) in w.iter_mut().zip(g).zip(saved.iter_mut()) {
            *s = *w;
            *w = plain_value(*w, g, alpha, zero);
            poison += *w * zero;
        }
    } else {
        for ((w, &g), s) in w.iter_mut().zip(g).zip(saved.iter_mut()) {
            *s = *w;
            *w = plain_value(*w, g, alpha, lambda);
            poison += *w * zero;
        }
    }
    poison == zero
}

#[cfg(test)]
mod tests {
    use nalgebra::DMatrix;
    use proptest::prelude::*;

    use crate::{
        Error, Fit, Float, Identity, Optimizer, Relu, Sequential, Sgd, Sigmoid, SquaredError, Tanh,
    };

    /// A model of the given widths and activation choices (0 identity, 1 relu, 2 sigmoid, 3 tanh).
    fn model<T: Float>(inputs: usize, layers: &[(usize, u8)], bias: bool) -> Sequential<T> {
        let mut b = Sequential::<T>::builder(inputs).seed(7).bias(bias);
        for &(units, f) in layers {
            b = match f {
                0 => b.dense(units, Identity),
                1 => b.dense(units, Relu),
                2 => b.dense(units, Sigmoid),
                _ => b.dense(units, Tanh),
            };
        }
        b.loss(SquaredError).build().unwrap()
    }

    /// A model's inputs and bias, and a run of three epochs on `rows` rows.
    struct Case {
        inputs: usize,
        bias: bool,
        rows: usize,
        alpha: f64,
        lambda: f64,
        /// Targets large enough that a loss overflows while gradients and weights can stay
        /// finite.
        huge_targets: bool,
    }

    /// Trains one copy with `fit` (the fused loop) and one through the general step, row by row,
    /// and asserts the same weights, bit for bit, and the same loss or the same divergence.
    fn same_as_general_path<T: Float>(case: &Case, layers: &[(usize, u8)], values: &[f64]) {
        let Case {
            inputs,
            bias,
            rows,
            alpha,
            lambda,
            huge_targets,
        } = *case;
        let x = DMatrix::from_fn(rows, inputs, |r, c| {
            T::of(values[(r * 7 + c) % values.len()])
        });
        let last = layers.last().unwrap().0;
        // Squares above the largest float, values and products below it.
        let scale = match (huge_targets, T::of(1e300).finite()) {
            (false, _) => 1.0,
            (true, true) => 1e160,
            (true, false) => 1e20,
        };
        let y = DMatrix::from_fn(rows, last, |r, c| {
            T::of(scale * values[(r * 3 + c + 1) % values.len()])
        });
        let epochs = 3;
        // "Huge": a rate whose first update overflows the weights, in either float type.
        let alpha = match alpha {
            a if a < 1e10 => T::of(a),
            _ if T::of(1e306).finite() => T::of(1e306),
            _ => T::of(1e36),
        };
        let sgd = || {
            Sgd::new(alpha)
                .unwrap()
                .weight_decay(T::of(lambda))
                .unwrap()
        };

        let mut fused = model::<T>(inputs, layers, bias);
        assert!(fused.fused.is_some());
        let mut opt = sgd();
        let fitted = fused.fit(&x, &y, &mut opt, &Fit::new(epochs).stochastic());

        let mut general = model::<T>(inputs, layers, bias);
        let mut opt_general = sgd();
        let mut losses = Vec::new();
        let mut diverged = None;
        'epochs: for epoch in 0..epochs {
            let mut total = T::zero();
            for row in 0..rows {
                match general.train_batch(
                    x.rows(row, 1),
                    y.rows(row, 1),
                    &mut opt_general,
                    None,
                    true,
                ) {
                    Ok(loss) => total += loss * T::of_usize(1),
                    Err(d) => {
                        diverged = Some((epoch, row, d.what, d.layer));
                        break 'epochs;
                    }
                }
            }
            losses.push(total / T::of_usize(rows));
        }
        match (fitted, diverged) {
            (Ok(history), None) => assert_eq!(history.loss, losses),
            (
                Err(Error::Diverged {
                    epoch,
                    step,
                    what,
                    layer,
                }),
                Some(expected),
            ) => {
                assert_eq!((epoch, step, what, layer), expected)
            }
            (got, expected) => panic!("fused {got:?}, general {expected:?}"),
        }
        assert_eq!(observed(&fused), observed(&general));
        assert_eq!(opt.state().step, opt_general.state().step);
    }

    /// The bits of everything a user can read after training: each parameter and its gradient,
    /// each layer's output and each delta (or that there is none).
    fn observed<T: Float>(m: &Sequential<T>) -> Vec<(String, Vec<u64>)> {
        let bits =
            |m: nalgebra::DMatrixView<'_, T>| m.iter().map(|v| v.as_f64().to_bits()).collect();
        let mut seen = Vec::new();
        for (layer, name, value) in m.params() {
            seen.push((format!("{layer} {name}"), bits(value.as_view())));
            let grad = m.grad(layer, name).unwrap();
            seen.push((format!("{layer} {name} gradient"), bits(grad.as_view())));
        }
        for l in 0..=m.len() {
            seen.push((format!("output {l}"), bits(m.layer_output(l).unwrap())));
        }
        for l in 0..m.len() {
            let delta = m.delta(l).map_or_else(|_| vec![], bits);
            seen.push((format!("delta {l}"), delta));
        }
        seen
    }

    /// A run (bias, rows, rates, huge targets), the values of its data, and whether it is in
    /// f32.
    fn runs() -> impl Strategy<Value = ((bool, usize, f64, f64, bool), Vec<f64>, bool)> {
        (
            (
                any::<bool>(),
                1usize..5,
                prop::sample::select(vec![0.05, 0.5, 1e3, 1e300]),
                prop::sample::select(vec![0.0, 0.01]),
                prop::bool::weighted(0.2),
            ),
            prop::collection::vec(-2.0f64..2.0, 1..16),
            any::<bool>(),
        )
    }

    fn check(
        inputs: usize,
        layers: &[(usize, u8)],
        ((bias, rows, alpha, lambda, huge_targets), values, f32s): (
            (bool, usize, f64, f64, bool),
            Vec<f64>,
            bool,
        ),
    ) {
        let case = Case {
            inputs,
            bias,
            rows,
            alpha,
            lambda,
            huge_targets,
        };
        if f32s {
            same_as_general_path::<f32>(&case, layers, &values);
        } else {
            same_as_general_path::<f64>(&case, layers, &values);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn the_fused_loop_computes_the_general_paths_bits(
            inputs in 1usize..6,
            layers in prop::collection::vec((1usize..7, 0u8..4), 1..4),
            run in runs(),
        ) {
            check(inputs, &layers, run);
        }

        // At most four inputs and hidden units, and often one output: the kernel of
        // `two_layers.rs`.
        #[test]
        fn the_two_layer_kernel_computes_the_general_paths_bits(
            inputs in 1usize..=5,
            hidden in (1usize..=4, 0u8..4),
            output in (1usize..=2, 0u8..4),
            run in runs(),
        ) {
            check(inputs, &[hidden, output], run);
        }
    }

    /// One fused epoch, if the fused loop takes the model and the optimizer.
    fn fused_epoch(m: &mut Sequential<f64>, opt: &mut Sgd<f64>) -> Option<super::Epochs> {
        let x = DMatrix::from_row_slice(4, 3, &[1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1.]);
        let y = DMatrix::from_column_slice(4, 1, &[1., 1., 0., 0.]);
        m.fused_epochs(x.as_view(), y.as_view(), opt, false, 1, &mut |_, _, _| {
            false
        })
    }

    #[test]
    fn an_optimizer_with_momentum_takes_the_general_path() {
        let mut m = model::<f64>(3, &[(4, 1), (1, 0)], false);
        let mut momentum = Sgd::new(0.1).unwrap().momentum(0.9).unwrap();
        assert!(fused_epoch(&mut m, &mut momentum).is_none());
        assert!(fused_epoch(&mut m, &mut Sgd::new(0.1).unwrap()).is_some());
    }

    #[test]
    fn a_callback_stops_the_fused_epochs() {
        let x = DMatrix::from_row_slice(4, 3, &[1., 0., 1., 0., 1., 1., 0., 0., 1., 1., 1., 1.]);
        let y = DMatrix::from_column_slice(4, 1, &[1., 1., 0., 0.]);
        // The two-layer kernel (3-4-1) and the per-layer loop (3-4-4-1).
        for layers in [&[(4, 1), (1, 0)][..], &[(4, 1), (4, 1), (1, 0)]] {
            let mut m = model::<f64>(3, layers, false);
            let mut opt = Sgd::new(0.1).unwrap();
            let mut seen = Vec::new();
            let mut after = |epoch, total: f64, _| {
                seen.push((epoch, total));
                epoch == 2
            };
            let ran = m.fused_epochs(x.as_view(), y.as_view(), &mut opt, false, 10, &mut after);
            assert!(matches!(ran, Some(Ok(()))));
            assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 1, 2]);
            assert_eq!(opt.state().step, 12);
            // The sums are those of three epochs of `fit`.
            let mut again = model::<f64>(3, layers, false);
            let history = again
                .fit(
                    &x,
                    &y,
                    &mut Sgd::new(0.1).unwrap(),
                    &Fit::new(3).stochastic(),
                )
                .unwrap();
            let means: Vec<f64> = seen.iter().map(|s| s.1 / 4.0).collect();
            assert_eq!(history.loss, means);
            assert_eq!(observed(&m), observed(&again));
        }
    }
}
