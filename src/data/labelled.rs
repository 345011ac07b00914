//! Labelled CSV: numeric input columns and one label column of class names or integers, read in
//! one call into inputs, class indices and a [`LabelEncoder`] that maps names and indices both ways.
//!
//! The format is that of [`read_csv`](super::read_csv) (commas, no quoting, blank lines skipped, an
//! optional header, the same number of fields on every line), except that one column, chosen by
//! [`LabelColumn`], holds labels: any non-empty text, trimmed of spaces and tabs.
//!
//! Classes are numbered in sorted order, as scikit-learn's `LabelEncoder` numbers them (it uses
//! `np.unique`): when every label is an integer (`-1`, `3`, `+7`) they sort by value, so `2` comes
//! before `10`, and a class's name is its integer in plain decimal (`+7` and `07` are class `7`);
//! otherwise they sort as text, by Unicode code point (`"Iris-setosa" < "Iris-versicolor"`, and
//! upper case before lower case).
//!
//! ```text
//! sepal,petal,species            inputs [[5.1, 1.4],      labels [0, 1, 0]
//! 5.1,1.4,setosa          -->            [7.0, 4.7],      classes ["setosa", "versicolor"]
//! 7.0,4.7,versicolor                     [4.9, 1.4]]
//! 4.9,1.4,setosa
//! ```
//!
//! Errors name the line (1-based, counting every line, header and blank lines included) and the
//! field (1-based, counting the label column), as `read_csv`'s do.

use std::path::Path;

use nalgebra::DMatrix;

use super::{Dataset, one_hot};
use crate::{Error, Float, Result};

/// Which column of a CSV holds the labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelColumn {
    /// The first column.
    First,
    /// The last column (the usual place, as in the iris and digits files).
    Last,
    /// The column at this 0-based index.
    Index(usize),
    /// The column with this name in the header (the name is compared after trimming spaces).
    Name(String),
}

/// Maps class names to class indices and back, the classes in sorted order.
///
/// Like scikit-learn's `LabelEncoder`: [`fit`](Self::fit) collects the distinct labels and sorts
/// them (by value when all are integers, else as text; see the [module documentation](self)), and
/// class `i` is the `i`-th of them.
///
/// ```
/// use backprop::data::LabelEncoder;
///
/// let enc = LabelEncoder::fit(["dog", "cat", "dog", "bird"])?;
/// assert_eq!(enc.classes(), ["bird", "cat", "dog"]);
/// assert_eq!(enc.transform(&["cat", "dog"])?, [1, 2]);
/// assert_eq!(enc.inverse_transform(&[2, 0])?, ["dog", "bird"]);
///
/// let numbers = LabelEncoder::fit(["10", "2", "-1"])?;
/// assert_eq!(numbers.classes(), ["-1", "2", "10"]); // by value, not as text
/// assert_eq!(numbers.index("+2"), Some(1));
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelEncoder {
    /// The class names, sorted as described above and distinct.
    classes: Vec<String>,
    /// The classes' values, in the same order, when every label was an integer.
    integers: Option<Vec<i64>>,
}

impl LabelEncoder {
    /// The sorted distinct values of `labels`.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if `labels` yields nothing.
    pub fn fit<I, S>(labels: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let labels: Vec<S> = labels.into_iter().collect();
        if labels.is_empty() {
            return Err(Error::Empty { what: "labels" });
        }
        let integers: Option<Vec<i64>> = labels.iter().map(|l| l.as_ref().parse().ok()).collect();
        Ok(match integers {
            Some(mut values) => {
                values.sort_unstable();
                values.dedup();
                LabelEncoder {
                    classes: values.iter().map(i64::to_string).collect(),
                    integers: Some(values),
                }
            }
            None => {
                let mut classes: Vec<String> =
                    labels.iter().map(|l| l.as_ref().to_owned()).collect();
                classes.sort_unstable();
                classes.dedup();
                LabelEncoder {
                    classes,
                    integers: None,
                }
            }
        })
    }

    /// The class names, class `i` at position `i`.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Always `false`: [`fit`](Self::fit) refuses empty labels. Present to pair with
    /// [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The index of class `name`, or `None` if it is not one of the classes. For integer
    /// classes, any spelling of the integer matches (`"+2"` and `"02"` find class `"2"`).
    pub fn index(&self, name: &str) -> Option<usize> {
        match &self.integers {
            Some(values) => values.binary_search(&name.parse().ok()?).ok(),
            None => self.classes.binary_search_by(|c| c.as_str().cmp(name)).ok(),
        }
    }

    /// The name of class `index`, or `None` past the last class.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.classes.get(index).map(String::as_str)
    }

    /// The class index of every label, in order.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownClass`] naming the position and text of the first label that is not one
    /// of the classes.
    pub fn transform<S: AsRef<str>>(&self, labels: &[S]) -> Result<Vec<usize>> {
        labels
            .iter()
            .enumerate()
            .map(|(row, label)| {
                let label = label.as_ref();
                self.index(label).ok_or_else(|| Error::UnknownClass {
                    row,
                    label: label.to_owned(),
                    classes: self.len(),
                })
            })
            .collect()
    }

    /// The class name of every index, in order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLabel`] naming the position of the first index that is not below
    /// [`len`](Self::len).
    pub fn inverse_transform(&self, indices: &[usize]) -> Result<Vec<&str>> {
        indices
            .iter()
            .enumerate()
            .map(|(row, &i)| {
                self.name(i).ok_or(Error::InvalidLabel {
                    row,
                    label: i as f64,
                    classes: self.len(),
                })
            })
            .collect()
    }
}

/// A labelled CSV, as read by [`read_labelled_csv`]: inputs, one class index per row, and the
/// encoder that names the classes.
///
/// The fields are private so that there is always one label, below the number of classes, per
/// input row; that makes [`one_hot`](Self::one_hot) infallible but for memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled<T: Float> {
    inputs: DMatrix<T>,
    labels: Vec<usize>,
    encoder: LabelEncoder,
    header: Option<Vec<String>>,
}

impl<T: Float> Labelled<T> {
    /// The input columns (every column but the label's, in file order), one sample per row.
    pub fn inputs(&self) -> &DMatrix<T> {
        &self.inputs
    }

    /// The class index of each row.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The encoder that maps class names to these indices and back.
    pub fn encoder(&self) -> &LabelEncoder {
        &self.encoder
    }

    /// The class names, class `i` at position `i` (the encoder's [`classes`](LabelEncoder::classes)).
    pub fn classes(&self) -> &[String] {
        self.encoder.classes()
    }

    /// The header's names of the input columns (trimmed), if the text had a header.
    pub fn feature_names(&self) -> Option<&[String]> {
        self.header.as_deref()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Always `false`: the readers refuse text without data. Present to pair with
    /// [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The labels as one-hot targets, `rows x classes` (see [`one_hot`](fn@super::one_hot)).
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the matrix cannot be allocated.
    pub fn one_hot(&self) -> Result<DMatrix<T>> {
        one_hot(&self.labels, self.encoder.len())
    }

    /// A [`Dataset`] of the inputs and the one-hot targets.
    ///
    /// # Errors
    ///
    /// As [`one_hot`](Self::one_hot).
    pub fn to_dataset_one_hot(&self) -> Result<Dataset<T>> {
        Dataset::new(self.inputs.clone(), self.one_hot()?)
    }

    /// Gives back the inputs, the labels and the encoder.
    pub fn into_parts(self) -> (DMatrix<T>, Vec<usize>, LabelEncoder) {
        (self.inputs, self.labels, self.encoder)
    }
}

/// Reads a labelled CSV file: inputs, class indices and class names in one call.
///
/// See the [module documentation](self) for the format and the order of the classes.
///
/// # Errors
///
/// - [`Error::Io`] naming the path if the file cannot be read;
/// - [`Error::Format`] naming the path if it is not UTF-8, and as for [`parse_labelled_csv`];
/// - the other errors of [`parse_labelled_csv`].
///
/// ```
/// use backprop::data::{LabelColumn, read_labelled_csv};
///
/// let path = std::env::temp_dir().join(format!("backprop-labelled-doc-{}.csv", std::process::id()));
/// std::fs::write(&path, "sepal,petal,species\n5.1,1.4,setosa\n7.0,4.7,versicolor\n4.9,1.4,setosa\n").unwrap();
/// let iris = read_labelled_csv::<f64>(&path, LabelColumn::Name("species".into()), true)?;
/// assert_eq!(iris.inputs().shape(), (3, 2));
/// assert_eq!(iris.labels(), [0, 1, 0]);
/// assert_eq!(iris.classes(), ["setosa", "versicolor"]);
/// std::fs::remove_file(&path).unwrap();
/// # Ok::<(), backprop::Error>(())
/// ```
pub fn read_labelled_csv<T: Float>(
    path: impl AsRef<Path>,
    label: LabelColumn,
    has_header: bool,
) -> Result<Labelled<T>> {
    let (name, text) = super::csv::read_text(path.as_ref())?;
    parse_named(&text, &label, has_header, &name)
}

/// Parses labelled CSV text: inputs, class indices and class names in one call.
///
/// See the [module documentation](self) for the format and the order of the classes.
///
/// # Errors
///
/// - [`Error::Format`] naming the line and field of an input value that is not a finite number
///   fitting `T`, of an empty label, or of a line whose number of fields differs from the first
///   line's; also for a [`LabelColumn::Name`] without a header or not in it;
/// - [`Error::InvalidParameter`] (`"label column"`) for a [`LabelColumn::Index`] past the last
///   field;
/// - [`Error::Empty`] if there are no data lines, or no input columns besides the label.
///
/// ```
/// use backprop::{Error, data::{LabelColumn, parse_labelled_csv}};
///
/// let data = parse_labelled_csv::<f32>("3, 0.5, 1\n10, 0.25, 2\n2, 1.0, 3\n", LabelColumn::First, false)?;
/// assert_eq!(data.classes(), ["2", "3", "10"]); // integers sort by value
/// assert_eq!(data.labels(), [1, 2, 0]);
/// assert_eq!(data.encoder().name(2), Some("10"));
///
/// let err = parse_labelled_csv::<f64>("1,a\nx,b\n", LabelColumn::Last, false).unwrap_err();
/// assert!(matches!(&err, Error::Format { reason, .. } if reason.starts_with("line 2, field 1")));
/// # Ok::<(), Error>(())
/// ```
pub fn parse_labelled_csv<T: Float>(
    text: &str,
    label: LabelColumn,
    has_header: bool,
) -> Result<Labelled<T>> {
    parse_named(text, &label, has_header, "CSV text")
}

/// [`parse_labelled_csv`], with `source` (a path or a description) in the errors.
fn parse_named<T: Float>(
    text: &str,
    label: &LabelColumn,
    has_header: bool,
    source: &str,
) -> Result<Labelled<T>> {
    let format = |reason: String| Error::Format {
        path: source.to_owned(),
        reason,
    };
    let mut lines = super::csv::numbered_lines(text);

    let header: Option<(usize, Vec<String>)> = match has_header {
        true => lines
            .next()
            .map(|(number, h)| (number, h.split(',').map(|f| f.trim().to_owned()).collect())),
        false => None,
    };
    let mut lines = lines.peekable();
    // The first line read (header or data) fixes the width: (fields, which line).
    let (width, first) = match (&header, lines.peek()) {
        (Some((number, names)), _) => (names.len(), format!("line {number} (the header)")),
        (None, Some((number, line))) => (line.split(',').count(), format!("line {number}")),
        (None, None) => return Err(Error::Empty { what: "CSV data" }),
    };
    let column = label_index(
        label,
        width,
        header.as_ref().map(|h| h.1.as_slice()),
        &format,
    )?;
    if width < 2 {
        return Err(Error::Empty {
            what: "CSV input columns (only the label column)",
        });
    }

    let mut values: Vec<T> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (number, line) in lines {
        let fields = line.split(',').count();
        if fields != width {
            return Err(format(format!(
                "line {number} has {fields} fields, but {first} has {width}"
            )));
        }
        for (i, field) in line.split(',').enumerate() {
            let field = field.trim();
            let at = |why: String| format(format!("line {number}, field {}: {why}", i + 1));
            if i == column {
                if field.is_empty() {
                    return Err(at("empty label".into()));
                }
                names.push(field);
            } else {
                values.push(super::csv::parse_field(field, T::NAME).map_err(at)?);
            }
        }
    }
    if names.is_empty() {
        return Err(Error::Empty { what: "CSV data" });
    }
    let encoder = LabelEncoder::fit(&names)?;
    let labels = encoder.transform(&names)?;
    let mut feature_names = header.map(|h| h.1);
    if let Some(names) = &mut feature_names {
        names.remove(column);
    }
    Ok(Labelled {
        inputs: DMatrix::from_row_slice(labels.len(), width - 1, &values),
        labels,
        encoder,
        header: feature_names,
    })
}

/// The 0-based index of the label column among `width` fields; `format` makes the error of a
/// name that cannot be found.
fn label_index(
    label: &LabelColumn,
    width: usize,
    header: Option<&[String]>,
    format: &dyn Fn(String) -> Error,
) -> Result<usize> {
    match label {
        LabelColumn::First => Ok(0),
        LabelColumn::Last => Ok(width - 1),
        LabelColumn::Index(i) if *i < width => Ok(*i),
        LabelColumn::Index(i) => Err(Error::param(
            "label column",
            *i as f64,
            "must be below the number of fields on a line",
        )),
        LabelColumn::Name(name) => {
            let Some(header) = header else {
                return Err(format(format!(
                    "the label column is named {name:?}, but the text is read without a header"
                )));
            };
            header
                .iter()
                .position(|h| h == name.trim())
                .ok_or_else(|| format(format!("no column named {name:?} in the header {header:?}")))
        }
    }
}
