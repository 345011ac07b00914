//! Classification metrics: accuracy and the confusion matrix.
//!
//! A prediction's class is read the way its output layer means it: one output column (a sigmoid)
//! is class 1 when it is at least 0.5; several columns (a softmax) give the column of the largest
//! value. Targets are read the same way, or as class indices when a single target column faces
//! several output columns.

use std::fmt;

use crate::{Error, Float, Matrix, MatrixView, Result};

/// The class of row `r` of predictions with `k` columns.
#[inline]
fn predicted_class<T: Float>(pred: &MatrixView<'_, T>, r: usize) -> usize {
    if pred.ncols() == 1 {
        return usize::from(pred[(r, 0)] >= T::of(0.5));
    }
    let mut best = 0;
    for j in 1..pred.ncols() {
        // The first of equal maxima wins, as numpy's argmax.
        if pred[(r, j)] > pred[(r, best)] {
            best = j;
        }
    }
    best
}

/// The class of row `r` of targets facing `outputs` prediction columns.
#[inline]
fn target_class<T: Float>(target: &MatrixView<'_, T>, outputs: usize, r: usize) -> usize {
    if target.ncols() == 1 && outputs > 1 {
        return target[(r, 0)].as_f64() as usize;
    }
    predicted_class(target, r)
}

/// Rows whose predicted class equals the target class (validated inputs, no allocation).
pub(crate) fn count_correct<T: Float>(pred: MatrixView<'_, T>, target: MatrixView<'_, T>) -> usize {
    (0..pred.nrows())
        .filter(|&r| predicted_class(&pred, r) == target_class(&target, pred.ncols(), r))
        .count()
}

/// Checks that `target` can be read as classes for `pred`.
fn check_classes<T: Float>(pred: &Matrix<T>, target: &Matrix<T>) -> Result<usize> {
    if pred.nrows() == 0 {
        return Err(Error::Empty {
            what: "predictions",
        });
    }
    if pred.nrows() != target.nrows() {
        return Err(Error::RowMismatch {
            inputs: pred.nrows(),
            targets: target.nrows(),
        });
    }
    crate::validate::check_finite("predictions", pred.as_view())?;
    crate::validate::check_finite("targets", target.as_view())?;
    let classes = pred.ncols().max(2);
    if target.ncols() == 1 && pred.ncols() > 1 {
        for r in 0..target.nrows() {
            let label = target[(r, 0)].as_f64();
            if label < 0.0 || label.fract() != 0.0 || label >= classes as f64 {
                return Err(Error::InvalidLabel {
                    row: r,
                    label,
                    classes,
                });
            }
        }
    } else if target.ncols() != pred.ncols() {
        return Err(Error::Shape {
            what: "targets".into(),
            expected: (pred.nrows(), pred.ncols()),
            actual: target.shape(),
        });
    }
    Ok(classes)
}

/// The fraction of rows whose predicted class is the target class.
///
/// ```
/// use backprop::metrics::accuracy;
/// use nalgebra::DMatrix;
/// let probs = DMatrix::from_row_slice(3, 3, &[0.7, 0.2, 0.1, 0.1, 0.1, 0.8, 0.3, 0.4, 0.3]);
/// let labels = DMatrix::from_column_slice(3, 1, &[0.0, 2.0, 0.0]); // class indices
/// assert_eq!(accuracy(&probs, &labels).unwrap(), 2.0 / 3.0);
/// ```
///
/// # Errors
///
/// [`Error::Empty`], [`Error::RowMismatch`], [`Error::Shape`], [`Error::NonFinite`], and
/// [`Error::InvalidLabel`] for a class index that is not an integer in `0..classes`.
pub fn accuracy<T: Float>(pred: &Matrix<T>, target: &Matrix<T>) -> Result<f64> {
    check_classes(pred, target)?;
    Ok(count_correct(pred.as_view(), target.as_view()) as f64 / pred.nrows() as f64)
}

/// Counts of (actual class, predicted class) pairs.
///
/// ```
/// use backprop::metrics::confusion_matrix;
/// use nalgebra::DMatrix;
/// let p = DMatrix::from_column_slice(4, 1, &[0.9, 0.2, 0.6, 0.1]); // one sigmoid output
/// let y = DMatrix::from_column_slice(4, 1, &[1.0, 0.0, 0.0, 0.0]);
/// let cm = confusion_matrix(&p, &y).unwrap();
/// assert_eq!(cm.count(0, 1), 1); // one 0 predicted as 1
/// assert_eq!(cm.count(0, 0), 2);
/// assert_eq!(cm.accuracy(), 0.75);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    /// Row-major: `counts[actual * classes + predicted]`.
    counts: Vec<usize>,
}

impl ConfusionMatrix {
    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Rows of class `actual` predicted as `predicted` (0 outside the range).
    pub fn count(&self, actual: usize, predicted: usize) -> usize {
        if actual < self.classes && predicted < self.classes {
            self.counts[actual * self.classes + predicted]
        } else {
            0
        }
    }

    /// Total number of rows counted.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    /// The diagonal over the total.
    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.classes).map(|c| self.count(c, c)).sum();
        correct as f64 / self.total().max(1) as f64
    }
}

impl fmt::Display for ConfusionMatrix {
    /// Actual classes down, predicted classes across.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .counts
            .iter()
            .max()
            .map_or(1, |m| m.to_string().len())
            .max(3);
        write!(f, "{:>8} |", "actual")?;
        for p in 0..self.classes {
            write!(f, " {p:>width$}")?;
        }
        writeln!(f, "   <- predicted")?;
        writeln!(f, "{}", "-".repeat(10 + (width + 1) * self.classes))?;
        for a in 0..self.classes {
            write!(f, "{a:>8} |")?;
            for p in 0..self.classes {
                write!(f, " {:>width$}", self.count(a, p))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// The confusion matrix of predictions against targets (classes read as described in the module).
///
/// # Errors
///
/// As [`accuracy`], and [`Error::TooLarge`] if the `classes x classes` counts cannot be allocated
/// (predictions with very many columns).
pub fn confusion_matrix<T: Float>(pred: &Matrix<T>, target: &Matrix<T>) -> Result<ConfusionMatrix> {
    let classes = check_classes(pred, target)?;
    let mut counts = crate::size::filled_vec("confusion matrix", classes, classes, 0)?;
    let (pv, tv) = (pred.as_view(), target.as_view());
    for r in 0..pred.nrows() {
        counts[target_class(&tv, pred.ncols(), r) * classes + predicted_class(&pv, r)] += 1;
    }
    Ok(ConfusionMatrix { classes, counts })
}
