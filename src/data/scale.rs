//! Column scalers: [`Standardizer`] and [`MinMaxScaler`], fitted on training inputs and applied to
//! any matrix with the same columns, with the `f64` arithmetic that keeps them finite.

use nalgebra::DMatrix;

use super::check_finite;
use crate::{Error, Float, Result};

/// Per-column standardisation: `x' = (x - mean) / std`, with the population standard deviation.
///
/// ```text
/// mean_j = sum_i x_ij / n        std_j = sqrt(sum_i (x_ij - mean_j)^2 / n)
/// ```
///
/// A column that was constant when fitted (`std = 0`) carries no information, so [`transform`]
/// writes 0 into it for every finite value, on the fitted data and on new data alike. The
/// statistics are computed in `f64` (also for `f32` data) and are finite for any finite input.
///
/// [`transform`]: Standardizer::transform
///
/// ```
/// use backprop::data::Standardizer;
/// use nalgebra::DMatrix;
///
/// let x = DMatrix::<f64>::from_row_slice(3, 2, &[1.0, 5.0, 2.0, 5.0, 3.0, 5.0]);
/// let scaler = Standardizer::fit(&x)?;
/// assert_eq!(scaler.means(), &[2.0, 5.0]);
/// let z = scaler.transform(&x)?;
/// assert!((z[(2, 0)] - 1.224744871391589).abs() < 1e-12); // (3 - 2) / sqrt(2/3)
/// assert_eq!(z[(0, 1)], 0.0); // constant column
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer<T: Float> {
    means: Vec<T>,
    stds: Vec<T>,
}

impl<T: Float> Standardizer<T> {
    /// Learns each column's mean and population standard deviation.
    ///
    /// # Errors
    ///
    /// - [`Error::Empty`] if `x` has no rows or no columns;
    /// - [`Error::NonFinite`] naming the first NaN or infinity.
    pub fn fit(x: &DMatrix<T>) -> Result<Self> {
        check_fittable(x)?;
        let (mut means, mut stds) = (Vec::with_capacity(x.ncols()), Vec::with_capacity(x.ncols()));
        for col in x.column_iter() {
            let (lo, hi) = min_max(col.iter().map(|v| v.as_f64()));
            if lo == hi {
                means.push(T::of(lo));
                stds.push(T::zero());
                continue;
            }
            // Sums and squares of ordinary values are computed as they are; columns with huge or
            // tiny values are first scaled by a power of two (exact), so they stay finite too.
            let s = power_of_two_scale(lo.abs().max(hi.abs()));
            let n = col.len() as f64;
            let mean = col.iter().map(|v| v.as_f64() * s).sum::<f64>() / n;
            let var = col
                .iter()
                .map(|v| (v.as_f64() * s - mean).powi(2))
                .sum::<f64>()
                / n;
            let std = T::of(var.sqrt() / s);
            means.push(T::of(mean / s));
            // A spread too small for T counts as constant.
            stds.push(if std > T::zero() { std } else { T::zero() });
        }
        Ok(Self { means, stds })
    }

    /// Per-column means learned by [`Standardizer::fit`].
    pub fn means(&self) -> &[T] {
        &self.means
    }

    /// Per-column population standard deviations (0 for constant columns).
    pub fn stds(&self) -> &[T] {
        &self.stds
    }

    /// Standardises a copy of `x`.
    ///
    /// # Errors
    ///
    /// As [`Standardizer::transform_in_place`].
    pub fn transform(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        let mut out = x.clone();
        self.transform_in_place(&mut out)?;
        Ok(out)
    }

    /// Standardises `x` in place.
    ///
    /// A NaN or infinity stays non-finite (and [`Dataset::new`] will reject it); a finite value
    /// whose result does not fit `T` (an `f32` far from the fitted range) is an error.
    ///
    /// [`Dataset::new`]: super::Dataset::new
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] if `x` does not have the fitted number of columns; [`Error::NonFinite`]
    /// naming the first value (in reading order) that is finite and whose result is not. In
    /// both cases `x` is unchanged.
    pub fn transform_in_place(&self, x: &mut DMatrix<T>) -> Result<()> {
        check_cols("matrix to standardise", x, self.means.len())?;
        map_columns("standardised matrix", x, |j, v| {
            standardise(v, self.means[j].as_f64(), self.stds[j].as_f64())
        })
    }
}

/// Per-column rescaling to `[0, 1]`: `x' = (x - min) / (max - min)`.
///
/// The minimum and maximum are those seen by [`MinMaxScaler::fit`]; new data outside that range maps
/// outside `[0, 1]` (no clipping). A column that was constant when fitted maps to 0 for every finite
/// value.
///
/// ```
/// use backprop::data::MinMaxScaler;
/// use nalgebra::DMatrix;
///
/// let x = DMatrix::from_row_slice(3, 2, &[0.0, 7.0, 4.0, 7.0, 16.0, 7.0]);
/// let scaler = MinMaxScaler::fit(&x)?;
/// let y = scaler.transform(&x)?;
/// assert_eq!(y.column(0).as_slice(), &[0.0, 0.25, 1.0]);
/// assert_eq!(y.column(1).as_slice(), &[0.0, 0.0, 0.0]);
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MinMaxScaler<T: Float> {
    mins: Vec<T>,
    maxs: Vec<T>,
}

impl<T: Float> MinMaxScaler<T> {
    /// Learns each column's minimum and maximum.
    ///
    /// # Errors
    ///
    /// - [`Error::Empty`] if `x` has no rows or no columns;
    /// - [`Error::NonFinite`] naming the first NaN or infinity.
    pub fn fit(x: &DMatrix<T>) -> Result<Self> {
        check_fittable(x)?;
        let (mins, maxs) = x
            .column_iter()
            .map(|col| {
                let (lo, hi) = min_max(col.iter().map(|v| v.as_f64()));
                (T::of(lo), T::of(hi))
            })
            .unzip();
        Ok(Self { mins, maxs })
    }

    /// Per-column minimums learned by [`MinMaxScaler::fit`].
    pub fn mins(&self) -> &[T] {
        &self.mins
    }

    /// Per-column maximums learned by [`MinMaxScaler::fit`].
    pub fn maxs(&self) -> &[T] {
        &self.maxs
    }

    /// Rescales a copy of `x`.
    ///
    /// # Errors
    ///
    /// As [`MinMaxScaler::transform_in_place`].
    pub fn transform(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        let mut out = x.clone();
        self.transform_in_place(&mut out)?;
        Ok(out)
    }

    /// Rescales `x` in place. Non-finite values stay non-finite; a finite value whose result
    /// does not fit `T` (an `f32` far outside a narrow fitted range) is an error.
    ///
    /// # Errors
    ///
    /// [`Error::Shape`] if `x` does not have the fitted number of columns; [`Error::NonFinite`]
    /// naming the first value (in reading order) that is finite and whose result is not. In
    /// both cases `x` is unchanged.
    pub fn transform_in_place(&self, x: &mut DMatrix<T>) -> Result<()> {
        check_cols("matrix to rescale", x, self.mins.len())?;
        map_columns("rescaled matrix", x, |j, v| {
            rescale(v, self.mins[j].as_f64(), self.maxs[j].as_f64())
        })
    }
}

/// Replaces each value `v` of column `j` by `f(j, v)` (computed in `f64`), after checking that
/// no finite value gives a result that is not finite in `T`; on error `x` is unchanged.
fn map_columns<T: Float>(
    what: &str,
    x: &mut DMatrix<T>,
    f: impl Fn(usize, f64) -> f64,
) -> Result<()> {
    let (rows, cols) = x.shape();
    // Reading order (row by row), as `check_finite` reports, so the first bad value is named.
    for r in 0..rows {
        for c in 0..cols {
            let v = x[(r, c)].as_f64();
            let out = T::of(f(c, v));
            if v.is_finite() && !out.finite() {
                return Err(Error::NonFinite {
                    what: format!("{what} (a finite input overflows {})", T::NAME),
                    row: r,
                    col: c,
                    value: out.as_f64(),
                });
            }
        }
    }
    for (j, mut col) in x.column_iter_mut().enumerate() {
        for v in col.iter_mut() {
            *v = T::of(f(j, v.as_f64()));
        }
    }
    Ok(())
}

/// `(x - mean) / std` in `f64`, without overflow for finite values; 0 when `std` is 0.
fn standardise(x: f64, mean: f64, std: f64) -> f64 {
    if std == 0.0 {
        return zero_if_finite(x);
    }
    let d = x - mean;
    if d.is_finite() || !x.is_finite() {
        d / std
    } else {
        // Halving is exact here (the values are huge), and keeps the difference finite.
        (x * 0.5 - mean * 0.5) / (std * 0.5)
    }
}

/// `(x - lo) / (hi - lo)` in `f64`, without overflow for finite values; 0 when `lo == hi`.
fn rescale(x: f64, lo: f64, hi: f64) -> f64 {
    if lo == hi {
        return zero_if_finite(x);
    }
    let (d, range) = (x - lo, hi - lo);
    if (d.is_finite() || !x.is_finite()) && range.is_finite() {
        d / range
    } else {
        (x * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5)
    }
}

/// What a column that was constant when fitted maps to: 0, except that NaN and infinity stay.
fn zero_if_finite(x: f64) -> f64 {
    if x.is_finite() { 0.0 } else { x }
}

/// 1 for ordinary magnitudes; otherwise a power of two that brings `max_abs` near 1, so that a
/// column's sum of squares neither overflows nor underflows. Multiplying by it is exact.
fn power_of_two_scale(max_abs: f64) -> f64 {
    const HUGE: f64 = 1.0e150; // about 2^498
    const TINY: f64 = 1.0e-150;
    const DOWN: f64 = f64::from_bits((1023 - 600) << 52); // 2^-600
    const UP: f64 = f64::from_bits((1023 + 600) << 52); // 2^600
    if max_abs > HUGE {
        DOWN
    } else if max_abs < TINY {
        UP
    } else {
        1.0
    }
}

/// Smallest and largest of a non-empty sequence of finite values.
fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// What a scaler's `fit` needs: at least one row and column, all finite.
fn check_fittable<T: Float>(x: &DMatrix<T>) -> Result<()> {
    if x.is_empty() {
        return Err(Error::Empty {
            what: "matrix to fit",
        });
    }
    check_finite("matrix to fit", x)
}

/// `x` must have `cols` columns (any number of rows).
fn check_cols<T: Float>(what: &str, x: &DMatrix<T>, cols: usize) -> Result<()> {
    if x.ncols() == cols {
        Ok(())
    } else {
        Err(Error::Shape {
            what: what.into(),
            expected: (usize::MAX, cols),
            actual: x.shape(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardise_and_rescale_scaling_survive_extreme_values() {
        let big = f64::MAX;
        assert_eq!(standardise(big, -big, big), 2.0);
        assert_eq!(rescale(big, -big, big), 1.0);
        let x = DMatrix::from_row_slice(3, 1, &[-big, 0.0, big]);
        let s = MinMaxScaler::fit(&x).unwrap();
        assert_eq!(s.transform(&x).unwrap().as_slice(), &[0.0, 0.5, 1.0]);
        let z = Standardizer::fit(&x).unwrap().transform(&x).unwrap();
        assert!(z.iter().all(|v| v.is_finite()));
        assert!((z[(2, 0)] - 1.5f64.sqrt()).abs() < 1e-12);
        // Tiny values: the squares would underflow without scaling.
        let x = DMatrix::<f64>::from_row_slice(2, 1, &[1e-300, 3e-300]);
        let st = Standardizer::fit(&x).unwrap();
        assert!((st.stds()[0] / 1e-300 - 1.0).abs() < 1e-15);
        let z = st.transform(&x).unwrap();
        assert!((z[(0, 0)] + 1.0).abs() < 1e-15 && (z[(1, 0)] - 1.0).abs() < 1e-15);
    }

    #[test]
    fn power_of_two_scale_is_two_to_the_600() {
        assert_eq!(power_of_two_scale(1e200), 2f64.powi(-600));
        assert_eq!(power_of_two_scale(1e-200), 2f64.powi(600));
        assert_eq!(power_of_two_scale(12.0), 1.0);
    }
}
