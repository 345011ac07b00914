//! The bundled 8x8 handwritten digits: 1797 images of the digits 0 to 9, available offline.
//!
//! Each image is 8x8 pixels, each pixel an integer from 0 to 16; an image is one row of 64 values
//! in row-major order (pixel `8 * r + c` is row `r`, column `c`). The samples are in the same order
//! as scikit-learn's `load_digits()`, and [`Digits::scaled_images`] is `load_digits().data / 16`.
//!
//! | class | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 |
//! |---|---|---|---|---|---|---|---|---|---|---|
//! | images | 178 | 182 | 177 | 183 | 181 | 182 | 181 | 179 | 174 | 180 |
//!
//! # Source and licence
//!
//! *Optical Recognition of Handwritten Digits*, UCI Machine Learning Repository, dataset 80,
//! donated in 1998 by E. Alpaydin and C. Kaynak (Bogazici University, Istanbul). These 1797 images
//! are the repository's test set (`optdigits.tes`, 13 writers), the copy that scikit-learn ships.
//! NIST preprocessing turned scanned forms into normalised 32x32 bitmaps; each pixel here counts
//! the "on" pixels of one 4x4 block of such a bitmap.
//!
//! The data set is licensed under the Creative Commons Attribution 4.0 International licence
//! (CC BY 4.0, <https://creativecommons.org/licenses/by/4.0/>); reuse must credit the source:
//!
//! > Alpaydin, E. & Kaynak, C. (1998). *Optical Recognition of Handwritten Digits* \[Dataset\].
//! > UCI Machine Learning Repository. <https://doi.org/10.24432/C50P49>
//!
//! The crate bundles it as `data/digits.csv` (a header line, then 64 pixel columns and a `label`
//! column per line).
//!
//! ```
//! use backprop::data::digits;
//!
//! let digits = digits::<f32>()?;
//! assert_eq!(digits.images().shape(), (1797, 64));
//! assert_eq!(digits.labels()[..5], [0, 1, 2, 3, 4]);
//! # Ok::<(), backprop::Error>(())
//! ```

use nalgebra::DMatrix;

use super::Dataset;
use crate::{Error, Float, Result};

/// The bundled file: a header line, then 1797 lines of 64 pixels and a label.
const DIGITS_CSV: &str = include_str!("../../data/digits.csv");
/// What errors call the bundled file.
const SOURCE: &str = "bundled data/digits.csv";

/// Number of images in the set.
pub const SAMPLES: usize = 1797;
/// Pixels per image (8 x 8).
pub const PIXELS: usize = 64;
/// Number of classes (the digits 0 to 9).
pub const CLASSES: usize = 10;
/// Largest pixel value; [`Digits::scaled_images`] divides by it.
pub const MAX_PIXEL: f64 = 16.0;

/// Loads the bundled digits: [`SAMPLES`] images of [`PIXELS`] raw pixel values (0 to 16) and their
/// labels (0 to 9).
///
/// The text is parsed and checked on each call (a few milliseconds); keep the result rather than
/// calling this in a loop.
///
/// # Errors
///
/// The bundled file is checked by the crate's tests, so this does not fail in practice; if the file
/// were damaged, the result would be an [`Error::Format`] (wrong shape, a pixel outside 0..=16) or
/// [`Error::InvalidLabel`] rather than wrong data.
///
/// ```
/// use backprop::data::digits;
///
/// let digits = digits::<f64>()?;
/// let first = digits.images().row(0);
/// assert_eq!(first.iter().take(8).copied().collect::<Vec<_>>(), [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn digits<T: Float>() -> Result<Digits<T>> {
    let table: DMatrix<T> = super::csv::parse_named(DIGITS_CSV, true, SOURCE)?;
    if table.shape() != (SAMPLES, PIXELS + 1) {
        return Err(Error::Format {
            path: SOURCE.into(),
            reason: format!(
                "expected {SAMPLES} rows of {} columns, found {:?}",
                PIXELS + 1,
                table.shape()
            ),
        });
    }
    let images = table.columns(0, PIXELS).into_owned();
    if let Some((i, v)) = images
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=MAX_PIXEL).contains(&v.as_f64()) || v.as_f64().fract() != 0.0)
    {
        // Column-major index back to (row, column).
        let (row, col) = (i % SAMPLES, i / SAMPLES);
        return Err(Error::Format {
            path: SOURCE.into(),
            reason: format!("pixel {v} at row {row}, column {col} is not an integer in 0..=16"),
        });
    }
    let labels = table
        .column(PIXELS)
        .iter()
        .enumerate()
        .map(|(row, v)| {
            let label = v.as_f64();
            if (0.0..CLASSES as f64).contains(&label) && label.fract() == 0.0 {
                Ok(label as usize)
            } else {
                Err(Error::InvalidLabel {
                    row,
                    label,
                    classes: CLASSES,
                })
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Digits { images, labels })
}

/// The digits images and labels, as returned by [`digits`].
///
/// The fields are private so that there is always one label (0 to 9) per image; that makes the
/// conversions to a [`Dataset`] infallible.
#[derive(Debug, Clone, PartialEq)]
pub struct Digits<T: Float> {
    images: DMatrix<T>,
    labels: Vec<usize>,
}

impl<T: Float> Digits<T> {
    /// The raw images: `1797 x 64`, pixel values 0 to 16, one image per row.
    pub fn images(&self) -> &DMatrix<T> {
        &self.images
    }

    /// The class of each image, 0 to 9.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Number of images (1797).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Always `false`; present to pair with [`Digits::len`].
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images divided by 16, so that pixels lie in `[0, 1]` (`load_digits().data / 16`).
    ///
    /// Dividing by a power of two is exact, in `f32` as in `f64`.
    ///
    /// ```
    /// let digits = backprop::data::digits::<f64>()?;
    /// assert_eq!(digits.scaled_images()[(0, 3)], 13.0 / 16.0);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn scaled_images(&self) -> DMatrix<T> {
        let scale = T::of(MAX_PIXEL);
        self.images.map(|v| v / scale)
    }

    /// A [`Dataset`] for classification: [`scaled_images`](Digits::scaled_images) as inputs and
    /// the labels one-hot encoded as targets (`1797 x 10`, as [`one_hot`](super::one_hot) gives).
    ///
    /// ```
    /// use backprop::data::{argmax_rows, digits};
    ///
    /// let digits = digits::<f32>()?;
    /// let data = digits.to_dataset_one_hot();
    /// assert_eq!(data.targets().shape(), (1797, 10));
    /// assert_eq!(argmax_rows(data.targets()), digits.labels());
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn to_dataset_one_hot(&self) -> Dataset<T> {
        // The same matrix as `one_hot(labels, 10)`; every label is below 10 by construction.
        let labels = &self.labels;
        Dataset {
            inputs: self.scaled_images(),
            targets: DMatrix::from_fn(labels.len(), CLASSES, |r, c| {
                if labels[r] == c { T::one() } else { T::zero() }
            }),
        }
    }

    /// A [`Dataset`] whose targets are one column holding each image's class (0.0 to 9.0), with
    /// [`scaled_images`](Digits::scaled_images) as inputs.
    ///
    /// ```
    /// let digits = backprop::data::digits::<f64>()?;
    /// let data = digits.to_dataset_labels();
    /// assert_eq!(data.targets().shape(), (1797, 1));
    /// assert_eq!(data.targets()[(9, 0)], 9.0);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn to_dataset_labels(&self) -> Dataset<T> {
        Dataset {
            inputs: self.scaled_images(),
            targets: DMatrix::from_iterator(
                self.labels.len(),
                1,
                self.labels.iter().map(|&l| T::of(l as f64)),
            ),
        }
    }

    /// Gives back the raw images and the labels.
    pub fn into_parts(self) -> (DMatrix<T>, Vec<usize>) {
        (self.images, self.labels)
    }
}
