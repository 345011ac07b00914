//! [`Dataset`], the checked pairing of inputs and targets, with its row operations (batches,
//! shuffle, splits, subsets) and the unbiased Fisher-Yates draws behind them.

use std::collections::BTreeMap;

use nalgebra::DMatrix;
use rand::Rng;

use super::check_finite;
use crate::{Error, Float, Result};

/// An iterator over a [`Dataset`]'s rows in batches: `(inputs, targets)` views.
#[derive(Debug, Clone)]
pub struct Batches<'a, T: Float> {
    data: &'a Dataset<T>,
    size: usize,
    start: usize,
}

impl<'a, T: Float> Iterator for Batches<'a, T> {
    type Item = (crate::MatrixView<'a, T>, crate::MatrixView<'a, T>);

    fn next(&mut self) -> Option<Self::Item> {
        let n = self.data.len();
        if self.start >= n {
            return None;
        }
        let rows = self.size.min(n - self.start);
        let item = (
            self.data.inputs.rows(self.start, rows),
            self.data.targets.rows(self.start, rows),
        );
        self.start += rows;
        Some(item)
    }
}

/// Inputs and targets with the same number of rows, all finite: what a network trains on.
///
/// The fields are private so that every `Dataset` keeps the invariants [`Dataset::new`] checks:
/// at least one row and one column on each side, equal row counts, no NaN or infinity.
///
/// ```
/// use backprop::data::Dataset;
/// use nalgebra::DMatrix;
///
/// // The book's streetlights and walk/stop.
/// let streetlights = DMatrix::from_row_slice(3, 3, &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
/// let walk_vs_stop = DMatrix::from_row_slice(3, 1, &[0.0, 1.0, 0.0]);
/// let data = Dataset::new(streetlights, walk_vs_stop)?;
/// assert_eq!(data.len(), 3);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset<T: Float> {
    // Visible in `data` and its submodules, as before the split: `digits` builds its data sets
    // directly, their values being finite by construction.
    pub(super) inputs: DMatrix<T>,
    pub(super) targets: DMatrix<T>,
}

impl<T: Float> Dataset<T> {
    /// Pairs inputs with targets after checking shapes and values.
    ///
    /// # Errors
    ///
    /// - [`Error::RowMismatch`] if the two matrices have different numbers of rows;
    /// - [`Error::Empty`] if there are no rows, or either matrix has no columns;
    /// - [`Error::NonFinite`] naming the matrix, row and column of the first NaN or infinity
    ///   (in reading order).
    ///
    /// ```
    /// use backprop::{Error, data::Dataset};
    /// use nalgebra::DMatrix;
    ///
    /// let x = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, f64::NAN]);
    /// let y = DMatrix::from_row_slice(2, 1, &[0.0, 1.0]);
    /// let err = Dataset::new(x, y).unwrap_err();
    /// assert!(matches!(err, Error::NonFinite { row: 1, col: 1, .. }));
    /// ```
    pub fn new(inputs: DMatrix<T>, targets: DMatrix<T>) -> Result<Self> {
        if inputs.nrows() != targets.nrows() {
            return Err(Error::RowMismatch {
                inputs: inputs.nrows(),
                targets: targets.nrows(),
            });
        }
        if inputs.nrows() == 0 {
            return Err(Error::Empty { what: "data set" });
        }
        if inputs.ncols() == 0 {
            return Err(Error::Empty { what: "inputs" });
        }
        if targets.ncols() == 0 {
            return Err(Error::Empty { what: "targets" });
        }
        check_finite("inputs", &inputs)?;
        check_finite("targets", &targets)?;
        Ok(Self { inputs, targets })
    }

    /// The input matrix, one sample per row.
    pub fn inputs(&self) -> &DMatrix<T> {
        &self.inputs
    }

    /// The target matrix, one sample per row.
    pub fn targets(&self) -> &DMatrix<T> {
        &self.targets
    }

    /// Number of samples (rows).
    pub fn len(&self) -> usize {
        self.inputs.nrows()
    }

    /// Always `false`: [`Dataset::new`] rejects empty data. Present to pair with [`Dataset::len`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives back the input and target matrices.
    pub fn into_parts(self) -> (DMatrix<T>, DMatrix<T>) {
        (self.inputs, self.targets)
    }

    /// The rows in batches of `size`, in order, as borrowed views (no copies); the last batch
    /// holds the leftover rows.
    ///
    /// ```
    /// use backprop::data::Dataset;
    /// use nalgebra::DMatrix;
    ///
    /// let data = Dataset::new(DMatrix::<f64>::from_fn(5, 2, |r, c| (r * 2 + c) as f64), DMatrix::zeros(5, 1))?;
    /// let sizes: Vec<usize> = data.batches(2)?.map(|(x, _y)| x.nrows()).collect();
    /// assert_eq!(sizes, [2, 2, 1]);
    /// let (x, _) = data.batches(2)?.nth(1).unwrap();
    /// assert_eq!(x[(0, 0)], 4.0); // row 2
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a batch size of 0.
    pub fn batches(&self, size: usize) -> Result<Batches<'_, T>> {
        if size == 0 {
            return Err(Error::param("batch size", 0.0, "must be at least 1"));
        }
        Ok(Batches {
            data: self,
            size,
            start: 0,
        })
    }

    /// Shuffles the rows in place, moving each input row together with its target row.
    ///
    /// Fisher-Yates: for `i` from the last row down to 1, rows `i` and `j` swap, where `j` is
    /// uniform in `0..=i`. Each `j` comes from [`Rng::next_u64`] by rejection sampling (no modulo
    /// bias), so a generator in a given state always produces the same order, on every platform.
    ///
    /// `rng` is any [`backprop::rand::Rng`](crate::rand): a [`NumpyRng`](crate::NumpyRng), or a
    /// generator from the `rand` that backprop re-exports (another version's generators do not
    /// implement its trait).
    ///
    /// ```
    /// use backprop::data::Dataset;
    /// use nalgebra::DMatrix;
    /// use backprop::rand::{SeedableRng, rngs::SmallRng};
    ///
    /// let x = DMatrix::from_fn(5, 1, |r, _| r as f64);
    /// let y = DMatrix::from_fn(5, 1, |r, _| 10.0 * r as f64);
    /// let mut data = Dataset::new(x, y)?;
    /// data.shuffle(&mut SmallRng::seed_from_u64(1));
    /// for r in 0..5 {
    ///     assert_eq!(data.targets()[(r, 0)], 10.0 * data.inputs()[(r, 0)]);
    /// }
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn shuffle<R>(&mut self, rng: &mut R)
    where
        R: Rng + ?Sized,
    {
        for i in (1..self.len()).rev() {
            let j = uniform_below(rng, i + 1);
            if i != j {
                self.inputs.swap_rows(i, j);
                self.targets.swap_rows(i, j);
            }
        }
    }

    /// Splits into `(train, test)` at random, with `test_fraction` of the rows in the test set.
    ///
    /// The test set gets `round(test_fraction * len)` rows (halves round up); the rows are drawn
    /// through one Fisher-Yates permutation (as in [`Dataset::shuffle`]), and both sets come out in
    /// that random order. `self` is left unchanged.
    ///
    /// `rng` is any [`backprop::rand::Rng`](crate::rand): a [`NumpyRng`](crate::NumpyRng), or a
    /// generator from the `rand` that backprop re-exports (another version's generators do not
    /// implement its trait).
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidParameter`] unless `0 < test_fraction < 1`;
    /// - [`Error::Empty`] if the rounding leaves the test or the training set without rows.
    ///
    /// ```
    /// use backprop::data::Dataset;
    /// use nalgebra::DMatrix;
    /// use backprop::rand::{SeedableRng, rngs::SmallRng};
    ///
    /// let data = Dataset::new(DMatrix::<f64>::zeros(10, 2), DMatrix::zeros(10, 1))?;
    /// let (train, test) = data.split(0.3, &mut SmallRng::seed_from_u64(0))?;
    /// assert_eq!((train.len(), test.len()), (7, 3));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn split<R>(&self, test_fraction: f64, rng: &mut R) -> Result<(Self, Self)>
    where
        R: Rng + ?Sized,
    {
        check_fraction(test_fraction)?;
        let n = self.len();
        let n_test = round_share(test_fraction, n);
        check_sizes(n_test, n)?;
        let order = permutation(n, rng);
        let (test, train) = order.split_at(n_test);
        Ok((self.rows(train), self.rows(test)))
    }

    /// Splits into `(train, test)` so that every class keeps the same share in both sets.
    ///
    /// `labels[i]` is the class of row `i` (any `usize` values; each distinct value is a class).
    /// A class with `k` rows puts `round(test_fraction * k)` of them (halves round up) in the test
    /// set, chosen at random; so a class with a single row stays in the training set when
    /// `test_fraction < 0.5`. The rows are taken through one Fisher-Yates permutation of the whole
    /// set, so both sets come out in random order with the classes mixed.
    ///
    /// `rng` is any [`backprop::rand::Rng`](crate::rand): a [`NumpyRng`](crate::NumpyRng), or a
    /// generator from the `rand` that backprop re-exports (another version's generators do not
    /// implement its trait).
    ///
    /// # Errors
    ///
    /// - [`Error::Shape`] if `labels` does not have one entry per row;
    /// - [`Error::InvalidParameter`] unless `0 < test_fraction < 1`;
    /// - [`Error::Empty`] if the rounding leaves the test or the training set without rows.
    ///
    /// ```
    /// use backprop::data::Dataset;
    /// use nalgebra::DMatrix;
    /// use backprop::rand::{SeedableRng, rngs::SmallRng};
    ///
    /// // 8 rows of class 0 and 4 of class 1.
    /// let labels = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
    /// let x = DMatrix::from_fn(12, 1, |r, _| r as f64);
    /// let y = DMatrix::from_fn(12, 1, |r, _| labels[r] as f64);
    /// let data = Dataset::new(x, y)?;
    /// let (train, test) = data.stratified_split(&labels, 0.25, &mut SmallRng::seed_from_u64(3))?;
    /// let ones = test.targets().iter().filter(|&&v| v == 1.0).count();
    /// assert_eq!((test.len(), ones), (3, 1)); // 2 of class 0, 1 of class 1
    /// assert_eq!(train.len(), 9);
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn stratified_split<R>(
        &self,
        labels: &[usize],
        test_fraction: f64,
        rng: &mut R,
    ) -> Result<(Self, Self)>
    where
        R: Rng + ?Sized,
    {
        let n = self.len();
        if labels.len() != n {
            return Err(Error::Shape {
                what: "labels (one per row of the data set)".into(),
                expected: (n, 1),
                actual: (labels.len(), 1),
            });
        }
        let (mut quotas, n_test) = class_quotas(labels, test_fraction)?;
        let mut test = Vec::with_capacity(n_test);
        let mut train = Vec::with_capacity(n - n_test);
        for row in permutation(n, rng) {
            match quotas.get_mut(&labels[row]) {
                Some(quota) if *quota > 0 => {
                    *quota -= 1;
                    test.push(row);
                }
                _ => train.push(row),
            }
        }
        Ok((self.rows(&train), self.rows(&test)))
    }

    /// A new data set made of the given rows, in the given order (a row may repeat).
    ///
    /// # Errors
    ///
    /// - [`Error::Empty`] if `rows` is empty;
    /// - [`Error::InvalidParameter`] (`"row index"`) if an index is not below [`Dataset::len`].
    ///
    /// ```
    /// use backprop::data::Dataset;
    /// use nalgebra::DMatrix;
    ///
    /// let data = Dataset::new(DMatrix::from_fn(4, 1, |r, _| r as f64), DMatrix::zeros(4, 1))?;
    /// let picked = data.subset(&[3, 1])?;
    /// assert_eq!(picked.inputs().as_slice(), &[3.0, 1.0]);
    /// assert!(data.subset(&[4]).is_err());
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn subset(&self, rows: &[usize]) -> Result<Self> {
        if rows.is_empty() {
            return Err(Error::Empty {
                what: "row selection",
            });
        }
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.len()) {
            return Err(Error::param(
                "row index",
                bad as f64,
                "must be less than the number of rows in the data set",
            ));
        }
        Ok(self.rows(rows))
    }

    /// The given rows; every index must be in range and the list non-empty.
    fn rows(&self, rows: &[usize]) -> Self {
        Self {
            inputs: self.inputs.select_rows(rows),
            targets: self.targets.select_rows(rows),
        }
    }
}

/// How many rows of each class go to the test set, `round(test_fraction * rows of the class)`
/// (halves up), and their sum, after checking the fraction and that both sets keep rows.
pub(super) fn class_quotas(
    labels: &[usize],
    test_fraction: f64,
) -> Result<(BTreeMap<usize, usize>, usize)> {
    check_fraction(test_fraction)?;
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for &label in labels {
        *counts.entry(label).or_default() += 1;
    }
    let mut n_test = 0;
    for count in counts.values_mut() {
        *count = round_share(test_fraction, *count);
        n_test += *count;
    }
    check_sizes(n_test, labels.len())?;
    Ok((counts, n_test))
}

/// A test fraction must be strictly between 0 and 1 (NaN is not).
fn check_fraction(test_fraction: f64) -> Result<()> {
    if test_fraction > 0.0 && test_fraction < 1.0 {
        Ok(())
    } else {
        Err(Error::param(
            "test fraction",
            test_fraction,
            "must be strictly between 0 and 1",
        ))
    }
}

/// Both sides of a split must keep at least one row.
fn check_sizes(n_test: usize, n: usize) -> Result<()> {
    if n_test == 0 {
        Err(Error::Empty { what: "test set" })
    } else if n_test >= n {
        Err(Error::Empty {
            what: "training set",
        })
    } else {
        Ok(())
    }
}

/// `round(fraction * count)`, halves up, for `0 < fraction < 1`.
fn round_share(fraction: f64, count: usize) -> usize {
    // The product lies in [0, count], so the conversion back is exact and in range.
    (fraction * count as f64).round() as usize
}

/// A uniformly random permutation of `0..n` (Fisher-Yates, as in [`Dataset::shuffle`]).
fn permutation<R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    shuffle_indices(&mut order, rng);
    order
}

/// Fisher-Yates shuffle of `order` in place, with [`uniform_below`] draws.
pub(crate) fn shuffle_indices<R: Rng + ?Sized>(order: &mut [usize], rng: &mut R) {
    for i in (1..order.len()).rev() {
        order.swap(i, uniform_below(rng, i + 1));
    }
}

/// A uniform integer in `0..n` (`n > 0`) from whole `u64` draws, rejecting the biased top values.
fn uniform_below<R: Rng + ?Sized>(rng: &mut R, n: usize) -> usize {
    let n = n as u64;
    // 2^64 mod n: that many values at the top of the u64 range would make `x % n` uneven.
    let uneven = (u64::MAX % n + 1) % n;
    loop {
        let x = rng.next_u64();
        if x <= u64::MAX - uneven {
            return (x % n) as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generator that replays fixed words, to pin down the rejection rule.
    struct Replay(Vec<u64>);

    impl rand::TryRng for Replay {
        type Error = std::convert::Infallible;
        fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
            Ok(self.0.remove(0) as u32)
        }
        fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
            Ok(self.0.remove(0))
        }
        fn try_fill_bytes(&mut self, _: &mut [u8]) -> std::result::Result<(), Self::Error> {
            unimplemented!()
        }
    }

    #[test]
    fn uniform_below_rejects_only_the_uneven_top() {
        // n = 3: 2^64 mod 3 = 1, so only u64::MAX is rejected.
        let mut rng = Replay(vec![u64::MAX, u64::MAX - 1, 5]);
        assert_eq!(uniform_below(&mut rng, 3), ((u64::MAX - 1) % 3) as usize);
        assert_eq!(uniform_below(&mut rng, 3), 2);
        // n = 4 divides 2^64: nothing is rejected.
        let mut rng = Replay(vec![u64::MAX]);
        assert_eq!(uniform_below(&mut rng, 4), 3);
        // n = 1 always gives 0.
        let mut rng = Replay(vec![u64::MAX]);
        assert_eq!(uniform_below(&mut rng, 1), 0);
    }
}
