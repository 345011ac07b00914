//! Dropout: randomly silenced units during training, the identity at inference.

use super::Layer;
use crate::{Error, Float, MatrixView, MatrixViewMut, NumpyRng, Result};

/// Inverted dropout: in training, each value is kept with probability `1 - p` and scaled by
/// `1 / (1 - p)`, else set to 0; at inference the layer passes its input through unchanged, so
/// the expected activation is the same in both modes.
///
/// ```text
/// training:   mask = (random() >= p) / (1 - p)      (drawn afresh for every batch)
///             layer_out = layer_in * mask
///             layer_in_delta = layer_out_delta * mask
/// inference:  layer_out = layer_in
/// ```
///
/// The mask comes from the layer's own seeded generator;
/// [`SequentialBuilder::dropout`](crate::SequentialBuilder::dropout) seeds it from the model's
/// seed, so one seed fixes a whole run. A [`Sequential`](crate::Sequential) trains in training mode and predicts and evaluates in
/// inference mode.
///
/// ```
/// use backprop::prelude::*;
/// use backprop::layer::Dropout;
/// use nalgebra::DMatrix;
///
/// let mut model = Sequential::<f64>::builder(4)
///     .seed(1)
///     .dense(16, Relu)
///     .dropout(0.5)
///     .dense(1, Sigmoid)
///     .loss(BinaryCrossEntropy)
///     .build()?;
/// let x = DMatrix::from_element(3, 4, 0.5);
/// // Inference is deterministic: dropout is the identity.
/// assert_eq!(model.predict(&x)?, model.predict(&x)?);
/// assert_eq!(model.layer_as::<Dropout<f64>>(1).unwrap().rate(), 0.5);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Dropout<T: Float> {
    width: usize,
    p: f64,
    seed: u32,
    /// The mask generator (2.5 KB of state), made on the first training pass or `reserve`, so that
    /// a model loaded for inference does not carry one per dropout layer.
    rng: Option<Box<NumpyRng>>,
    training: bool,
    /// The mask of the last training forward pass (`rows x width`, column-major, reused).
    mask: Vec<T>,
    rows: usize,
}

impl<T: Float> Dropout<T> {
    /// Dropout of rate `p` over rows of `width` values, with its mask generator seeded by `seed`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] unless `0 <= p < 1`; [`Error::Empty`] for a width of 0.
    pub fn new(width: usize, p: f64, seed: u32) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::param("dropout rate", p, "must be in [0, 1)"));
        }
        if width == 0 {
            return Err(Error::Empty {
                what: "dropout width",
            });
        }
        Ok(Dropout {
            width,
            p,
            seed,
            rng: None,
            training: true,
            mask: Vec::new(),
            rows: 0,
        })
    }

    /// The dropout rate `p`.
    pub fn rate(&self) -> f64 {
        self.p
    }

    /// Whether the layer is in training mode (dropping) or inference mode (identity).
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// The mask of the last training forward pass: `0` for dropped values, `1 / (1 - p)` for kept
    /// ones; `None` before any training pass.
    pub fn mask(&self) -> Option<MatrixView<'_, T>> {
        (self.rows > 0).then(|| crate::linalg::view(&self.mask, self.rows, self.width))
    }
}

impl<T: Float> Layer<T> for Dropout<T> {
    fn name(&self) -> &str {
        "Dropout"
    }

    fn input_size(&self) -> usize {
        self.width
    }

    fn output_size(&self) -> usize {
        self.width
    }

    fn forward(&self, input: MatrixView<'_, T>, mut output: MatrixViewMut<'_, T>) {
        // layer_out = layer_in
        output.copy_from(&input);
    }

    fn forward_train(&mut self, input: MatrixView<'_, T>, mut output: MatrixViewMut<'_, T>) {
        output.copy_from(&input);
        if !self.training || self.p == 0.0 {
            return;
        }
        let rows = input.nrows();
        if self.mask.len() < rows * self.width {
            // Normally sized by `reserve` already.
            self.mask.resize(rows * self.width, T::zero());
        }
        self.rows = rows;
        let seed = self.seed;
        let rng = self
            .rng
            .get_or_insert_with(|| Box::new(NumpyRng::new(seed)));
        let keep = T::of(1.0 / (1.0 - self.p));
        // Drawn row by row, as numpy fills a (rows, width) array.
        for r in 0..rows {
            for c in 0..self.width {
                self.mask[c * rows + r] = if rng.random() >= self.p {
                    keep
                } else {
                    T::zero()
                };
            }
        }
        // layer_out = layer_in * mask
        let mask = crate::linalg::view(&self.mask, rows, self.width);
        output.component_mul_assign(&mask);
    }

    fn backward(
        &mut self,
        _input: MatrixView<'_, T>,
        delta: MatrixView<'_, T>,
        grad_input: Option<MatrixViewMut<'_, T>>,
    ) {
        let Some(mut g) = grad_input else { return };
        g.copy_from(&delta);
        if self.training && self.p > 0.0 {
            // layer_in_delta = layer_out_delta * mask
            g.component_mul_assign(&crate::linalg::view(&self.mask, self.rows, self.width));
        }
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn reserve(&mut self, rows: usize) -> Result<()> {
        if self.p == 0.0 {
            return Ok(());
        }
        let seed = self.seed;
        self.rng
            .get_or_insert_with(|| Box::new(NumpyRng::new(seed)));
        crate::size::grow(&mut self.mask, "dropout mask", rows, self.width, T::zero())
    }
}
