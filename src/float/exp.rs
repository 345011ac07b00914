//! `exp` without branches or calls, so that a loop of it compiles to vector instructions (the
//! C library's `exp` is one call per element).
//!
//! `exp(x) = 2^n * exp(r)` with `n = round(x / ln 2)` and `r = x - n ln 2`, `|r| <= ln 2 / 2`:
//!
//! - `r` is computed with `ln 2` split in two (`LN2_HI` has trailing zero bits, so `n * LN2_HI`
//!   is exact for every `n` that occurs), which keeps `r` accurate to the last bit;
//! - `exp(r)` is its Taylor polynomial, evaluated by Horner's rule: for `f32` to degree 7, whose
//!   remainder is below `0.347^8 / 8! < 6e-9` relative (half an ulp is `6e-8`); for `f64` to
//!   degree 13, remainder below `0.347^14 / 14! < 5e-18` (half an ulp is `1.1e-16`);
//! - `2^n` is built in the exponent bits, as two factors so that results down in the subnormal
//!   range and up to the largest finite value come out right.
//!
//! Past the range where the result is finite and non-zero, it is `inf` or `0`; NaN stays NaN.
//! The tests hold the error to at most one ulp over the whole range: of the exactly rounded
//! result for `f32`, of the C library's `exp` for `f64`.

macro_rules! exp_impl {
    (
        $name:ident, $t:ty, $bits:ty, $ibits:ty, mantissa: $mant:literal, bias: $bias:literal,
        lo: $lo:expr, hi: $hi:expr, ln2_hi: $ln2_hi:expr, ln2_lo: $ln2_lo:expr,
        taylor: [$($c:expr),+ $(,)?]
    ) => {
        #[inline(always)]
        pub(crate) fn $name(x: $t) -> $t {
            const SHIFTER: $t = 1.5 * (1u64 << $mant) as $t;
            // Clamped so that n stays small enough for the two factors; NaN becomes 0 here and
            // is put back at the end.
            let xc = if x < $lo { $lo } else if x > $hi { $hi } else if x.is_nan() { 0.0 } else { x };
            // n = round(x / ln 2): adding 1.5 * 2^mantissa_bits rounds to an integer, which is
            // also the low bits of the sum, so no float-to-integer conversion is needed.
            let t = xc * core::f64::consts::LOG2_E as $t + SHIFTER;
            let n = t - SHIFTER;
            let ni = (t.to_bits() as $ibits).wrapping_sub(SHIFTER.to_bits() as $ibits);
            let r = (xc - n * $ln2_hi) - n * $ln2_lo;
            // Horner's rule from the highest coefficient down to 1.
            let mut p: $t = 0.0;
            $(p = p * r + $c;)+
            // 2^n = 2^h * 2^(n - h), each factor a normal number.
            let h = ni >> 1;
            let two = |e: $ibits| <$t>::from_bits(((e + $bias) as $bits) << $mant);
            let y = p * two(h) * two(ni - h);
            if x > $hi {
                <$t>::INFINITY
            } else if x < $lo {
                0.0
            } else if x.is_nan() {
                x
            } else {
                y
            }
        }
    };
}

exp_impl!(
    exp_f32, f32, u32, i32, mantissa: 23, bias: 127,
    // Below -104 the result is under half the smallest subnormal; above 88.73, past f32::MAX.
    lo: -104.0, hi: 88.73,
    // ln2_hi = 355/512, nine significant bits.
    ln2_hi: 355.0 / 512.0, ln2_lo: -2.121_944_4e-4,
    taylor: [
        1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0,
    ]
);

exp_impl!(
    exp_f64, f64, u64, i64, mantissa: 52, bias: 1023,
    // Below -745.2 the result is under half the smallest subnormal; above 709.79, past f64::MAX.
    lo: -745.2, hi: 709.79,
    ln2_hi: 0.693_147_180_369_123_8, ln2_lo: 1.908_214_929_270_587_7e-10,
    taylor: [
        1.0 / 6_227_020_800.0, 1.0 / 479_001_600.0, 1.0 / 39_916_800.0, 1.0 / 3_628_800.0,
        1.0 / 362_880.0, 1.0 / 40_320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0,
        1.0 / 6.0, 0.5, 1.0, 1.0,
    ]
);

#[cfg(test)]
mod tests {
    use super::{exp_f32, exp_f64};

    /// Distance in ulps between two non-negative floats (adjacent floats have adjacent bits).
    fn ulps32(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    fn ulps64(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn f32_is_within_one_ulp_of_the_exact_result_rounded() {
        // Reference: exp in f64 (error far below an f32 ulp), rounded once to f32. Every 61st
        // f32 from -110 to 90, which covers zero, subnormal, normal and overflowing results.
        let (lo, hi) = (-110.0_f32, 90.0_f32);
        let mut worst = (0, 0.0);
        let mut check = |x: f32| {
            let (got, want) = (exp_f32(x), (x as f64).exp() as f32);
            let d = ulps32(got, want);
            if d > worst.0 {
                worst = (d, x);
            }
        };
        // Negative floats have bits growing away from zero; positive ones towards `hi`.
        for bits in (0..=lo.to_bits() - (-0.0_f32).to_bits()).step_by(61) {
            check(-f32::from_bits(bits));
        }
        for bits in (0..=hi.to_bits()).step_by(61) {
            check(f32::from_bits(bits));
        }
        assert!(worst.0 <= 1, "{} ulps at x = {:e}", worst.0, worst.1);
    }

    #[test]
    fn f64_is_within_one_ulp_of_the_c_library() {
        // Reference: the C library's exp, itself within one ulp (correctly rounded on most
        // inputs). Evenly spaced over the whole range, plus a dense sweep near zero.
        let mut worst = (0, 0.0);
        let mut check = |x: f64| {
            let d = ulps64(exp_f64(x), x.exp());
            if d > worst.0 {
                worst = (d, x);
            }
        };
        let n = 2_000_000;
        for i in 0..=n {
            check(-746.0 + 1457.0 * i as f64 / n as f64);
            check(-1.0 + 2.0 * i as f64 / n as f64);
        }
        assert!(worst.0 <= 1, "{} ulps at x = {:e}", worst.0, worst.1);
    }

    #[test]
    fn special_values() {
        for (x, want) in [
            (0.0, 1.0),
            (-0.0, 1.0),
            (f64::INFINITY, f64::INFINITY),
            (f64::NEG_INFINITY, 0.0),
            (710.0, f64::INFINITY),
            (-746.0, 0.0),
            (f64::MAX, f64::INFINITY),
            (f64::MIN, 0.0),
        ] {
            assert_eq!(exp_f64(x), want, "exp({x})");
            assert_eq!(exp_f32(x as f32), want as f32, "exp({x}f32)");
        }
        assert!(ulps64(exp_f64(1.0), std::f64::consts::E) <= 1);
        assert!(ulps32(exp_f32(1.0), std::f32::consts::E) <= 1);
        assert!(exp_f64(f64::NAN).is_nan() && exp_f32(f32::NAN).is_nan());
        // The smallest subnormals and the largest finite results.
        assert_eq!(exp_f64(-745.0), f64::from_bits(1));
        assert_eq!(exp_f32(-103.0), (-103.0_f64).exp() as f32);
        assert!(exp_f32(-103.0) > 0.0 && exp_f32(-103.0) < f32::MIN_POSITIVE);
        assert!(ulps32(exp_f32(88.72), (88.72_f32 as f64).exp() as f32) <= 1);
        assert!(exp_f64(709.78).is_finite() && exp_f64(709.79).is_infinite());
    }
}
