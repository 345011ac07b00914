//! Data sets and their preparation: [`Dataset`], shuffling and splits, one-hot targets, column
//! scalers, the bundled [`digits`](digits()) set, and readers for CSV (numeric, or
//! [labelled] with class names) and MNIST's IDX files.
//!
//! Rows are samples, as in the book: a [`Dataset`] pairs an input matrix (`n x features`) with a
//! target matrix (`n x outputs`) that has the same number of rows.
//!
//! ```text
//! labels [3, 0, 1]  --one_hot(labels, 4)-->  [[0, 0, 0, 1],      argmax_rows(..) --> [3, 0, 1]
//!                                             [1, 0, 0, 0],
//!                                             [0, 1, 0, 0]]
//! ```
//!
//! A typical preparation: load, split by class, fit a scaler on the training inputs only, and apply
//! it to both halves.
//!
//! ```
//! # #[cfg(feature = "digits")] {
//! use backprop::data::{digits, Dataset, Standardizer};
//! use backprop::rand::{SeedableRng, rngs::SmallRng};
//!
//! let digits = digits::<f64>()?;
//! let data = digits.to_dataset_one_hot();
//! let mut rng = SmallRng::seed_from_u64(7);
//! let (train, test) = data.stratified_split(digits.labels(), 0.25, &mut rng)?;
//! assert_eq!(train.len() + test.len(), 1797);
//!
//! let scaler = Standardizer::fit(train.inputs())?;
//! let (x, y) = train.into_parts();
//! let train = Dataset::new(scaler.transform(&x)?, y)?;
//! let (x, y) = test.into_parts();
//! let test = Dataset::new(scaler.transform(&x)?, y)?;
//! assert_eq!(train.inputs().ncols(), 64);
//! assert_eq!(test.targets().ncols(), 10);
//! # }
//! # Ok::<(), backprop::Error>(())
//! ```

pub mod csv;
mod dataset;
#[cfg(feature = "digits")]
pub mod digits;
pub mod idx;
pub mod labelled;
mod scale;

pub use csv::{parse_csv, read_csv};
pub use dataset::{Batches, Dataset};
#[cfg(feature = "digits")]
pub use digits::{Digits, digits};
pub use idx::{parse_idx_images, parse_idx_labels, read_idx_images, read_idx_labels};
pub use labelled::{LabelColumn, LabelEncoder, Labelled, parse_labelled_csv, read_labelled_csv};
pub use scale::{MinMaxScaler, Standardizer};

// Shared with the trainer, which shuffles its own row order the same way.
pub(crate) use dataset::shuffle_indices;

use nalgebra::DMatrix;

use crate::{Error, Float, Result};

/// One row per label with a 1 in the label's column and 0 elsewhere.
///
/// ```text
/// one_hot([2, 0], 3) = [[0, 0, 1],
///                       [1, 0, 0]]
/// ```
///
/// An empty `labels` gives a `0 x classes` matrix.
///
/// # Errors
///
/// - [`Error::InvalidLabel`] naming the row if a label is not below `classes`;
/// - [`Error::InvalidParameter`] if `classes` is 0;
/// - [`Error::TooLarge`] if a `labels.len() x classes` matrix cannot be allocated.
///
/// ```
/// use backprop::{Error, data::one_hot};
///
/// let goal = one_hot::<f64>(&[2, 0], 3)?;
/// assert_eq!(goal.row(0).iter().copied().collect::<Vec<_>>(), [0.0, 0.0, 1.0]);
/// assert!(matches!(one_hot::<f64>(&[1, 3], 3), Err(Error::InvalidLabel { row: 1, .. })));
/// # Ok::<(), Error>(())
/// ```
pub fn one_hot<T: Float>(labels: &[usize], classes: usize) -> Result<DMatrix<T>> {
    if classes == 0 {
        return Err(Error::param("classes", 0.0, "must be at least 1"));
    }
    if let Some((row, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= classes) {
        return Err(Error::InvalidLabel {
            row,
            label: label as f64,
            classes,
        });
    }
    let mut goal = crate::size::zeros("one-hot matrix", labels.len(), classes)?;
    for (row, &label) in labels.iter().enumerate() {
        goal[(row, label)] = T::one();
    }
    Ok(goal)
}

/// The column of the largest value in each row: the predicted class of each sample.
///
/// Ties go to the lowest column; NaN never wins over a number. A row with no numbers (no columns,
/// or all NaN) gives 0.
///
/// ```
/// use backprop::data::argmax_rows;
/// use nalgebra::DMatrix;
///
/// let prediction = DMatrix::from_row_slice(3, 3, &[0.1, 0.7, 0.2, 0.5, 0.5, 0.0, f64::NAN, 0.0, 1.0]);
/// assert_eq!(argmax_rows(&prediction), vec![1, 0, 2]);
/// ```
pub fn argmax_rows<T: Float>(m: &DMatrix<T>) -> Vec<usize> {
    m.row_iter()
        .map(|row| {
            let mut best: Option<(usize, T)> = None;
            for (col, &v) in row.iter().enumerate() {
                if v.as_f64().is_nan() {
                    continue;
                }
                match best {
                    Some((_, b)) if v <= b => {}
                    _ => best = Some((col, v)),
                }
            }
            best.map_or(0, |(col, _)| col)
        })
        .collect()
}

/// Row indices `(train, test)` split by class without randomness: each class puts its last
/// `round(test_fraction * k)` rows (of its `k`; halves round up) in the test set, as Keras's
/// `validation_split` takes the last rows of the whole set. Both lists are in row order.
///
/// `labels[i]` is the class of row `i` (any `usize` values). This is what
/// [`Fit::stratify`](crate::Fit::stratify) uses; [`Dataset::stratified_split`] draws each class's
/// test rows at random instead, with the same counts.
///
/// # Errors
///
/// - [`Error::InvalidParameter`] unless `0 < test_fraction < 1`;
/// - [`Error::Empty`] if the rounding leaves the test or the training set without rows.
///
/// ```
/// use backprop::data::stratified_rows;
///
/// // A class-sorted file: the last 25% of the rows would all be class 1.
/// let labels = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
/// let (train, test) = stratified_rows(&labels, 0.25)?;
/// assert_eq!(test, [6, 7, 11]); // two of class 0, one of class 1
/// assert_eq!(train.len(), 9);
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn stratified_rows(labels: &[usize], test_fraction: f64) -> Result<(Vec<usize>, Vec<usize>)> {
    let (mut quotas, n_test) = dataset::class_quotas(labels, test_fraction)?;
    let mut test = Vec::with_capacity(n_test);
    let mut train = Vec::with_capacity(labels.len() - n_test);
    for (row, label) in labels.iter().enumerate().rev() {
        match quotas.get_mut(label) {
            Some(quota) if *quota > 0 => {
                *quota -= 1;
                test.push(row);
            }
            _ => train.push(row),
        }
    }
    train.reverse();
    test.reverse();
    Ok((train, test))
}

/// Reports the first non-finite value in reading order (row by row).
fn check_finite<T: Float>(what: &str, m: &DMatrix<T>) -> Result<()> {
    crate::validate::check_finite(what, m.as_view())
}
