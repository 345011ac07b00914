//! Matrices printed the way NumPy's `repr` prints arrays, so that an example's output can be read
//! line by line next to the notebook's.
//!
//! This follows NumPy's default print options (since 1.14): 8 digits of precision in `maxprec`
//! mode (each number with as few digits as identify it, at most 8 after the point, padded so the
//! points line up), scientific notation when the smallest non-zero magnitude is below `1e-4` or the
//! largest is more than 1000 times the smallest, lines of at most 75 characters, and arrays of
//! more than 1000 entries summarised to their first and last 3 items along each axis. As in
//! NumPy, the layout is decided from the values that are shown.

use nalgebra::{Dim, Matrix, RawStorage};

/// NumPy's `threshold`: arrays with more entries are summarised.
const THRESHOLD: usize = 1000;
/// NumPy's `edgeitems`: items kept at each end of a summarised axis.
const EDGE: usize = 3;
/// NumPy's `linewidth`, less the closing `)` of `array(...)`.
const WIDTH: usize = 75 - 1;
/// Indentation of continuation lines: `" "` plus the width of `"array("`.
const PREFIX: &str = "       ";
/// NumPy's `precision`.
const PRECISION: usize = 8;

/// `repr` of a 2-D float array, e.g. `array([[0.5, 1. ]])`.
pub fn array_repr<R: Dim, C: Dim, S: RawStorage<f64, R, C>>(m: &Matrix<f64, R, C, S>) -> String {
    let rows: Vec<Vec<f64>> = m.row_iter().map(|r| r.iter().copied().collect()).collect();
    repr(Array::Two(rows), FloatFormat::new)
}

/// `repr` of a 1-D integer array, e.g. `array([1, 0, 1])`.
pub fn int_array_repr_1d(v: &[i64]) -> String {
    let values = v.iter().map(|&x| x as f64).collect();
    repr(Array::One(values), |shown| {
        let width = shown
            .iter()
            .map(|x| format!("{x}").len())
            .max()
            .unwrap_or(1);
        IntFormat { width }
    })
}

/// The array's values, by dimension.
enum Array {
    One(Vec<f64>),
    Two(Vec<Vec<f64>>),
}

/// Formats one shown value.
trait Format {
    fn format(&self, x: f64) -> String;
}

/// Integers right-aligned to the widest shown value.
struct IntFormat {
    width: usize,
}

impl Format for IntFormat {
    fn format(&self, x: f64) -> String {
        format!("{:>w$}", x as i64, w = self.width)
    }
}

/// NumPy's `FloatingFormat` in `maxprec` mode for finite values.
struct FloatFormat {
    /// Scientific notation, and then its fixed number of mantissa digits and exponent digits.
    exp: Option<(usize, usize)>,
    /// Characters before and after the point (positional notation) or before it (scientific).
    pad_left: usize,
    pad_right: usize,
}

/// `x` with as few fractional digits as identify it, at most [`PRECISION`]: NumPy's Dragon4
/// `unique=True, precision=8, trim='.'` (a whole number keeps its point: `13.`).
fn positional(x: f64) -> String {
    let shortest = format!("{x}");
    let frac = shortest.split_once('.').map_or(0, |(_, f)| f.len());
    let s = if frac <= PRECISION {
        shortest
    } else {
        let rounded = format!("{x:.PRECISION$}");
        rounded.trim_end_matches('0').to_string()
    };
    if s.contains('.') { s } else { s + "." }
}

/// `x` in scientific notation as `(mantissa, exponent)`, the mantissa with `digits` fractional
/// digits, or with as few as identify it (at most [`PRECISION`]) when `digits` is `None`.
fn scientific(x: f64, digits: Option<usize>) -> (String, i32) {
    let p = digits.unwrap_or(PRECISION);
    let s = format!("{x:.p$e}");
    let (mantissa, exp) = s.split_once('e').expect("Rust's {:e} has an exponent");
    let mut mantissa = mantissa.to_string();
    if digits.is_none() {
        // Fewer digits when they already identify x (Rust's shortest round trip is unique).
        let shortest = format!("{x:e}");
        let (m, _) = shortest.split_once('e').expect("exponent");
        let frac = m.split_once('.').map_or(0, |(_, f)| f.len());
        mantissa = if frac <= PRECISION {
            m.to_string()
        } else {
            mantissa.trim_end_matches('0').to_string()
        };
        if !mantissa.contains('.') {
            mantissa.push('.');
        }
    }
    (mantissa, exp.parse().expect("integer exponent"))
}

impl FloatFormat {
    fn new(shown: &[f64]) -> Self {
        let non_zero: Vec<f64> = shown
            .iter()
            .map(|x| x.abs())
            .filter(|&x| x != 0.0)
            .collect();
        let max = non_zero.iter().copied().fold(0.0, f64::max);
        let min = non_zero.iter().copied().fold(f64::INFINITY, f64::min);
        let use_exp = !non_zero.is_empty() && (max >= 1e8 || min < 1e-4 || max / min > 1000.0);
        if use_exp {
            let parts: Vec<(String, i32)> = shown.iter().map(|&x| scientific(x, None)).collect();
            let digits = parts
                .iter()
                .map(|(m, _)| m.split_once('.').map_or(0, |(_, f)| f.len()))
                .max()
                .unwrap_or(0);
            let exp_digits = parts
                .iter()
                .map(|(_, e)| e.unsigned_abs().to_string().len().max(2))
                .max()
                .unwrap_or(2);
            let pad_left = parts
                .iter()
                .map(|(m, _)| m.split_once('.').map_or(m.len(), |(i, _)| i.len()))
                .max()
                .unwrap_or(1);
            FloatFormat {
                exp: Some((digits, exp_digits)),
                pad_left,
                pad_right: 0,
            }
        } else {
            let strs: Vec<String> = shown.iter().map(|&x| positional(x)).collect();
            let split = |s: &String| {
                let (i, f) = s.split_once('.').expect("positional keeps its point");
                (i.len(), f.len())
            };
            FloatFormat {
                exp: None,
                pad_left: strs.iter().map(|s| split(s).0).max().unwrap_or(1),
                pad_right: strs.iter().map(|s| split(s).1).max().unwrap_or(0),
            }
        }
    }
}

impl Format for FloatFormat {
    fn format(&self, x: f64) -> String {
        match self.exp {
            Some((digits, exp_digits)) => {
                let (mantissa, e) = scientific(x, Some(digits));
                let sign = if e < 0 { '-' } else { '+' };
                let e = format!("{:0w$}", e.unsigned_abs(), w = exp_digits);
                format!("{mantissa:>w$}e{sign}{e}", w = self.pad_left + 1 + digits)
            }
            None => {
                let s = positional(x);
                let (i, f) = s.split_once('.').expect("positional keeps its point");
                format!("{i:>l$}.{f:<r$}", l = self.pad_left, r = self.pad_right)
            }
        }
    }
}

/// The indices shown along an axis of `len` items, with `None` where `...` stands.
fn shown(len: usize, summarise: bool) -> Vec<Option<usize>> {
    if summarise && len > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain(std::iter::once(None))
            .chain((len - EDGE..len).map(Some))
            .collect()
    } else {
        (0..len).map(Some).collect()
    }
}

/// Appends `word` to `line`, first moving to a new line if it would pass `width`
/// (NumPy's `_extendLine`).
fn extend_line(s: &mut String, line: &mut String, word: &str, width: usize, indent: &str) {
    if line.len() + word.len() > width && line.len() > indent.len() {
        s.push_str(line.trim_end());
        s.push('\n');
        *line = indent.to_string();
    }
    line.push_str(word);
}

/// One row of items, wrapped (NumPy's `_formatArray` on the last axis).
fn format_row(items: &[Option<String>], indent: &str, width: usize) -> String {
    // Room up to the separator or closing bracket.
    let elem_width = width - 1;
    let mut s = String::new();
    let mut line = indent.to_string();
    for (k, item) in items.iter().enumerate() {
        let word = item.as_deref().unwrap_or("...");
        extend_line(&mut s, &mut line, word, elem_width, indent);
        if k + 1 < items.len() {
            line.push_str(", ");
        }
    }
    s.push_str(&line);
    format!("[{}]", &s[indent.len()..])
}

fn repr<F: Format>(array: Array, make: impl FnOnce(&[f64]) -> F) -> String {
    let size = match &array {
        Array::One(v) => v.len(),
        Array::Two(rows) => rows.len() * rows.first().map_or(0, Vec::len),
    };
    let summarise = size > THRESHOLD;
    let body = match array {
        Array::One(v) => {
            let idx = shown(v.len(), summarise);
            let values: Vec<f64> = idx.iter().flatten().map(|&i| v[i]).collect();
            let f = make(&values);
            let items: Vec<Option<String>> =
                idx.iter().map(|i| i.map(|i| f.format(v[i]))).collect();
            format_row(&items, PREFIX, WIDTH)
        }
        Array::Two(rows) => {
            let cols = rows.first().map_or(0, Vec::len);
            let (ri, ci) = (shown(rows.len(), summarise), shown(cols, summarise));
            let mut values = Vec::new();
            for r in ri.iter().flatten() {
                values.extend(ci.iter().flatten().map(|&c| rows[*r][c]));
            }
            let f = make(&values);
            let inner = format!("{PREFIX} ");
            let lines: Vec<String> = ri
                .iter()
                .map(|r| match r {
                    Some(r) => {
                        let items: Vec<Option<String>> = ci
                            .iter()
                            .map(|c| c.map(|c| f.format(rows[*r][c])))
                            .collect();
                        format_row(&items, &inner, WIDTH - 1)
                    }
                    None => "...".to_string(),
                })
                .collect();
            format!("[{}]", lines.join(&format!(",\n{PREFIX}")))
        }
    };
    format!("array({body})")
}
