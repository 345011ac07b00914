//! Classification metrics: accuracy, the confusion matrix, and a classification report of
//! precision, recall and F1 per class (scikit-learn's `classification_report`).
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

/// The predicted class of every row of `pred` (see the module documentation).
pub(crate) fn predicted_classes<T: Float>(pred: MatrixView<'_, T>) -> Vec<usize> {
    (0..pred.nrows())
        .map(|r| predicted_class(&pred, r))
        .collect()
}

/// The class of every row of validated `target` facing `outputs` prediction columns.
pub(crate) fn target_classes<T: Float>(target: MatrixView<'_, T>, outputs: usize) -> Vec<usize> {
    (0..target.nrows())
        .map(|r| target_class(&target, outputs, r))
        .collect()
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
    /// The classes' names, if given; class `c` is called `c` otherwise.
    names: Option<Vec<String>>,
}

impl ConfusionMatrix {
    /// Counts pairs of class indices: `actual[i]` against `predicted[i]`, for `classes` classes.
    ///
    /// ```
    /// use backprop::metrics::ConfusionMatrix;
    /// let cm = ConfusionMatrix::from_labels(&[0, 1, 1, 2], &[0, 1, 2, 2], 3)?;
    /// assert_eq!((cm.count(1, 2), cm.total()), (1, 4));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] without labels; [`Error::Shape`] if the two slices differ in length;
    /// [`Error::InvalidParameter`] for 0 classes; [`Error::InvalidLabel`] naming the first row
    /// (of `actual`, then of `predicted`) whose index is not below `classes`; [`Error::TooLarge`]
    /// if the counts cannot be allocated.
    pub fn from_labels(actual: &[usize], predicted: &[usize], classes: usize) -> Result<Self> {
        if actual.is_empty() {
            return Err(Error::Empty { what: "labels" });
        }
        if predicted.len() != actual.len() {
            return Err(Error::Shape {
                what: "predicted labels (one per actual label)".into(),
                expected: (actual.len(), 1),
                actual: (predicted.len(), 1),
            });
        }
        if classes == 0 {
            return Err(Error::param("classes", 0.0, "must be at least 1"));
        }
        for labels in [actual, predicted] {
            if let Some((row, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= classes) {
                return Err(Error::InvalidLabel {
                    row,
                    label: label as f64,
                    classes,
                });
            }
        }
        let mut counts = crate::size::filled_vec("confusion matrix", classes, classes, 0)?;
        for (&a, &p) in actual.iter().zip(predicted) {
            counts[a * classes + p] += 1;
        }
        Ok(ConfusionMatrix {
            classes,
            counts,
            names: None,
        })
    }

    /// The same counts with the classes named, class `c` by `names[c]` (e.g. a
    /// [`LabelEncoder`](crate::data::LabelEncoder)'s classes); the names label the rows and
    /// columns of the display and the [`report`](Self::report).
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] unless there is exactly one name per class.
    pub fn with_names<S: ToString>(mut self, names: &[S]) -> Result<Self> {
        if names.len() != self.classes {
            return Err(Error::Shape {
                what: "class names (one per class)".into(),
                expected: (self.classes, 1),
                actual: (names.len(), 1),
            });
        }
        self.names = Some(names.iter().map(ToString::to_string).collect());
        Ok(self)
    }

    /// The name of class `c`: the one given to [`with_names`](Self::with_names), or `c` itself.
    pub fn name(&self, c: usize) -> String {
        match &self.names {
            Some(names) if c < names.len() => names[c].clone(),
            _ => c.to_string(),
        }
    }

    /// Rows whose actual class is `c` (scikit-learn's *support*).
    pub fn support(&self, c: usize) -> usize {
        (0..self.classes).map(|p| self.count(c, p)).sum()
    }

    /// Rows predicted as class `c`.
    pub fn predicted(&self, c: usize) -> usize {
        (0..self.classes).map(|a| self.count(a, c)).sum()
    }

    /// Of the rows predicted as `c`, the fraction that are `c`: `tp / (tp + fp)`, 0 when nothing
    /// is predicted as `c` (the value scikit-learn gives by default, without its warning).
    pub fn precision(&self, c: usize) -> f64 {
        ratio(self.count(c, c), self.predicted(c))
    }

    /// Of the rows of class `c`, the fraction predicted as `c`: `tp / (tp + fn)`, 0 for a class
    /// without rows.
    pub fn recall(&self, c: usize) -> f64 {
        ratio(self.count(c, c), self.support(c))
    }

    /// The harmonic mean of precision and recall, `2 tp / (2 tp + fp + fn)`, 0 when `tp + fp +
    /// fn = 0` (as scikit-learn computes it).
    pub fn f1(&self, c: usize) -> f64 {
        let tp = self.count(c, c);
        ratio(2 * tp, self.predicted(c) + self.support(c))
    }

    /// Precision, recall and F1 of every class, with their macro and weighted averages, as
    /// scikit-learn's `classification_report(y_true, y_pred, labels=range(k), zero_division=0)`
    /// computes them; its [`Display`](fmt::Display) is that function's text.
    ///
    /// Every class of the matrix counts in the averages, also one that neither occurs nor is
    /// predicted (its scores are 0). Where a ratio would be 0/0 the score is 0: scikit-learn's
    /// default value, without its warning.
    ///
    /// ```text
    /// precision_c = tp / (tp + fp)    recall_c = tp / (tp + fn)    f1_c = 2 tp / (2 tp + fp + fn)
    /// macro avg   = mean over classes          weighted avg = mean weighted by support
    /// ```
    ///
    /// ```
    /// use backprop::metrics::ConfusionMatrix;
    /// let cm = ConfusionMatrix::from_labels(&[0, 0, 1, 1], &[0, 1, 1, 1], 2)?.with_names(&["no", "yes"])?;
    /// let report = cm.report();
    /// assert_eq!(report.per_class[1].precision, 2.0 / 3.0);
    /// assert_eq!(report.macro_avg.recall, 0.75);
    /// let text = report.to_string(); // as in ClassificationReport's docs
    /// assert_eq!(text.lines().nth(3), Some("         yes       0.67      1.00      0.80         2"));
    /// assert_eq!(text.lines().nth(7), Some("weighted avg       0.83      0.75      0.73         4"));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn report(&self) -> ClassificationReport {
        let per_class: Vec<Scores> = (0..self.classes)
            .map(|c| Scores {
                precision: self.precision(c),
                recall: self.recall(c),
                f1: self.f1(c),
                support: self.support(c),
            })
            .collect();
        let total = self.total();
        let average = |weight: &dyn Fn(&Scores) -> f64| {
            let sum_w: f64 = per_class.iter().map(weight).sum();
            let mean = |score: fn(&Scores) -> f64| {
                let sum: f64 = per_class.iter().map(|s| score(s) * weight(s)).sum();
                if sum_w > 0.0 { sum / sum_w } else { 0.0 }
            };
            Scores {
                precision: mean(|s| s.precision),
                recall: mean(|s| s.recall),
                f1: mean(|s| s.f1),
                support: total,
            }
        };
        ClassificationReport {
            names: (0..self.classes).map(|c| self.name(c)).collect(),
            macro_avg: average(&|_| 1.0),
            weighted_avg: average(&|s| s.support as f64),
            per_class,
            accuracy: self.accuracy(),
        }
    }

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

/// `part / whole`, 0 when `whole` is 0.
fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Precision, recall, F1 and support of one class, or their average over classes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// `tp / (tp + fp)` (0 for 0/0).
    pub precision: f64,
    /// `tp / (tp + fn)` (0 for 0/0).
    pub recall: f64,
    /// `2 tp / (2 tp + fp + fn)` (0 for 0/0).
    pub f1: f64,
    /// Rows of the class; for an average, all rows.
    pub support: usize,
}

/// Precision, recall and F1 per class and averaged, from [`ConfusionMatrix::report`]; it
/// displays as scikit-learn's `classification_report` text.
///
/// ```text
///               precision    recall  f1-score   support
///
///           no       1.00      0.50      0.67         2
///          yes       0.67      1.00      0.80         2
///
///     accuracy                           0.75         4
///    macro avg       0.83      0.75      0.73         4
/// weighted avg       0.83      0.75      0.73         4
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationReport {
    /// The class names, class `c` at position `c`.
    pub names: Vec<String>,
    /// The scores of each class, class `c` at position `c`.
    pub per_class: Vec<Scores>,
    /// The fraction of rows whose predicted class is the actual one.
    pub accuracy: f64,
    /// The unweighted mean of the classes' scores.
    pub macro_avg: Scores,
    /// The mean of the classes' scores weighted by their support.
    pub weighted_avg: Scores,
}

impl fmt::Display for ClassificationReport {
    /// scikit-learn's layout: two decimals, names right-aligned to the longest (at least
    /// `weighted avg`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self
            .names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0);
        let w = w.max("weighted avg".len());
        let row = |f: &mut fmt::Formatter<'_>, name: &str, s: &Scores| {
            writeln!(
                f,
                "{name:>w$}  {:>9.2} {:>9.2} {:>9.2} {:>9}",
                s.precision, s.recall, s.f1, s.support
            )
        };
        writeln!(
            f,
            "{:>w$}  {:>9} {:>9} {:>9} {:>9}\n",
            "", "precision", "recall", "f1-score", "support"
        )?;
        for (name, s) in self.names.iter().zip(&self.per_class) {
            row(f, name, s)?;
        }
        writeln!(f)?;
        let total = self.macro_avg.support;
        writeln!(
            f,
            "{:>w$}  {:>9} {:>9} {:>9.2} {total:>9}",
            "accuracy", "", "", self.accuracy
        )?;
        row(f, "macro avg", &self.macro_avg)?;
        row(f, "weighted avg", &self.weighted_avg)
    }
}

impl fmt::Display for ConfusionMatrix {
    /// Actual classes down, predicted classes across, by name when the classes are named.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = (0..self.classes).map(|c| self.name(c)).collect();
        let widest_name = names.iter().map(|n| n.chars().count()).max().unwrap_or(1);
        let width = self
            .counts
            .iter()
            .max()
            .map_or(1, |m| m.to_string().len())
            .max(3)
            .max(widest_name);
        let label = widest_name.max(8);
        write!(f, "{:>label$} |", "actual")?;
        for p in &names {
            write!(f, " {p:>width$}")?;
        }
        writeln!(f, "   <- predicted")?;
        writeln!(f, "{}", "-".repeat(label + 2 + (width + 1) * self.classes))?;
        for (a, name) in names.iter().enumerate() {
            write!(f, "{name:>label$} |")?;
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
    Ok(ConfusionMatrix {
        classes,
        counts,
        names: None,
    })
}
