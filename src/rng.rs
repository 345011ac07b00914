//! A generator that reproduces NumPy's legacy global generator (`np.random.seed` / `random`).
//!
//! The book seeds NumPy with `np.random.seed(1)` and draws `2*np.random.random((3,4)) - 1`. This
//! generator is the same Mersenne Twister (MT19937, seeded like the reference `init_genrand`), and
//! [`NumpyRng::random`] combines two 32-bit draws into 53 bits exactly as NumPy does:
//!
//! ```text
//! random() = ((a >> 5) * 67108864 + (b >> 6)) / 2^53      (a, b: successive 32-bit draws)
//! ```

use nalgebra::DMatrix;
use rand::{Rng, TryRng};
use rand_mt::Mt;

use crate::{Result, size};

/// NumPy-compatible Mersenne Twister; also a [`rand::Rng`] for everything else in the crate.
///
/// ```
/// use backprop::NumpyRng;
/// // np.random.seed(1); np.random.random()
/// let mut rng = NumpyRng::new(1);
/// assert_eq!(rng.random(), 0.417022004702574);
/// ```
#[derive(Clone)]
pub struct NumpyRng {
    mt: Mt,
}

impl std::fmt::Debug for NumpyRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NumpyRng")
    }
}

impl NumpyRng {
    /// Seeds like `np.random.seed(seed)`.
    pub fn new(seed: u32) -> Self {
        NumpyRng { mt: Mt::new(seed) }
    }

    /// `np.random.random()`: uniform in `[0, 1)` with 53 random bits.
    pub fn random(&mut self) -> f64 {
        numpy_random(self)
    }

    /// `np.random.uniform(lo, hi)`: `lo + (hi - lo) * random()`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.random()
    }

    /// Skips `n` calls of [`random`](Self::random), as if their values had been drawn. The
    /// generator has no jump-ahead: this takes about as long as drawing `n` values.
    ///
    /// ```
    /// use backprop::NumpyRng;
    /// let (mut a, mut b) = (NumpyRng::new(1), NumpyRng::new(1));
    /// a.random();
    /// b.skip(1);
    /// assert_eq!(a.random(), b.random());
    /// ```
    pub fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.random();
        }
    }

    /// `np.random.random((rows, cols))`, filled in row-major (C) order.
    ///
    /// ```
    /// use backprop::NumpyRng;
    /// let mut rng = NumpyRng::new(1);
    /// let w = rng.random_matrix(3, 4)?.map(|u| 2.0 * u - 1.0); // 2*np.random.random((3,4)) - 1
    /// assert_eq!(w[(0, 1)], 0.4406489868843162);
    /// assert!(rng.random_matrix(usize::MAX, 2).is_err());
    /// # Ok::<(), backprop::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`](crate::Error::TooLarge) if a `rows x cols` matrix cannot be allocated;
    /// nothing is drawn then.
    pub fn random_matrix(&mut self, rows: usize, cols: usize) -> Result<DMatrix<f64>> {
        size::row_major("random matrix", rows, cols, || self.random())
    }
}

/// NumPy's `random()` formula on any generator: two 32-bit draws make one 53-bit double.
pub(crate) fn numpy_random<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let a = (rng.next_u32() >> 5) as f64;
    let b = (rng.next_u32() >> 6) as f64;
    (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
}

impl TryRng for NumpyRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.mt.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        // Low word first, as NumPy's legacy generator builds a 64-bit draw.
        let lo = self.mt.next_u32() as u64;
        let hi = self.mt.next_u32() as u64;
        Ok((hi << 32) | lo)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(4) {
            let w = self.mt.next_u32().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}
