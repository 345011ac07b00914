//! Tests of the data module: the bundled digits, the IDX and CSV readers, one-hot targets, splits,
//! shuffling and the column scalers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use backprop::Error;
use backprop::data::{
    Dataset, MinMaxScaler, Standardizer, argmax_rows, digits, one_hot, parse_csv, parse_idx_images,
    parse_idx_labels, read_csv, read_idx_images, read_idx_labels,
};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::StdRng;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A file path in the system temp dir that no other test (or test run) uses; removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "backprop-tests-data-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        TempFile(std::env::temp_dir().join(unique))
    }

    fn write(name: &str, bytes: &[u8]) -> Self {
        let file = Self::new(name);
        std::fs::write(&file.0, bytes).expect("the temp dir is writable");
        file
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An IDX image file built by hand: magic, then n, rows, cols as big-endian u32, then pixels.
fn idx_images(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    bytes
}

/// An IDX label file built by hand: magic, then n as big-endian u32, then the labels.
fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 1];
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

/// Three 2x2 images whose pixels are 0..12, so every pixel value is distinct.
fn small_images() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..12).map(|p| p * 20 + 5).collect();
    (idx_images(3, 2, 2, &pixels), pixels)
}

fn format_reason(err: &Error) -> &str {
    match err {
        Error::Format { reason, .. } => reason,
        other => panic!("expected Error::Format, got {other:?}"),
    }
}

/// Counts of each label, as a map from label to count.
fn class_counts(
    labels: impl IntoIterator<Item = usize>,
) -> std::collections::BTreeMap<usize, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for l in labels {
        *counts.entry(l).or_insert(0) += 1;
    }
    counts
}

/// The class column of a data set built with `Digits::to_dataset_labels`.
fn label_column(data: &Dataset<f64>) -> Vec<usize> {
    data.targets().iter().map(|&v| v as usize).collect()
}

// ---------------------------------------------------------------------------------------------
// Bundled digits
// ---------------------------------------------------------------------------------------------

#[test]
fn digits_match_the_documented_golden_values() {
    // Golden values from /work/shared/data/README.md (the export script checks them against
    // scikit-learn's `load_digits()`): 1797 rows, 64 pixel columns, these class counts and a pixel
    // sum of 561718.
    let digits = digits::<f64>().unwrap();
    assert_eq!(digits.images().shape(), (1797, 64));
    assert_eq!(digits.labels().len(), 1797);
    assert_eq!(digits.len(), 1797);
    assert!(!digits.is_empty());

    let expected = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];
    let counts = class_counts(digits.labels().iter().copied());
    assert_eq!(counts.len(), 10);
    for (class, &count) in expected.iter().enumerate() {
        assert_eq!(counts[&class], count, "class {class}");
    }

    let sum: f64 = digits.images().iter().sum();
    assert_eq!(sum, 561_718.0);
    assert!(
        digits
            .images()
            .iter()
            .all(|&p| (0.0..=16.0).contains(&p) && p.fract() == 0.0)
    );
}

#[test]
fn digits_first_rows_match_the_bundled_csv() {
    // The first two data lines of data/digits.csv.
    let digits = digits::<f64>().unwrap();
    let row0: Vec<f64> = digits.images().row(0).iter().copied().collect();
    assert_eq!(
        row0[..16],
        [
            0., 0., 5., 13., 9., 1., 0., 0., 0., 0., 13., 15., 10., 15., 5., 0.
        ]
    );
    assert_eq!(digits.labels()[..10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn digits_in_f32_equal_digits_in_f64() {
    let single = digits::<f32>().unwrap();
    let double = digits::<f64>().unwrap();
    assert_eq!(single.labels(), double.labels());
    assert!(
        single
            .images()
            .iter()
            .zip(double.images().iter())
            .all(|(&a, &b)| f64::from(a) == b)
    );
}

#[test]
fn digits_scaled_images_are_pixels_over_16() {
    let digits = digits::<f64>().unwrap();
    let scaled = digits.scaled_images();
    assert_eq!(scaled.shape(), (1797, 64));
    for (s, p) in scaled.iter().zip(digits.images().iter()) {
        assert_eq!(*s * 16.0, *p);
    }
    assert_eq!(scaled.max(), 1.0);
    assert_eq!(scaled.min(), 0.0);
}

#[test]
fn digits_datasets_carry_one_hot_and_label_targets() {
    let digits = digits::<f64>().unwrap();
    let hot = digits.to_dataset_one_hot();
    assert_eq!(hot.inputs(), &digits.scaled_images());
    assert_eq!(hot.targets().shape(), (1797, 10));
    for (r, &label) in digits.labels().iter().enumerate() {
        let row: Vec<f64> = hot.targets().row(r).iter().copied().collect();
        let mut expected = vec![0.0; 10];
        expected[label] = 1.0;
        assert_eq!(row, expected, "row {r}");
    }
    assert_eq!(hot.targets(), &one_hot::<f64>(digits.labels(), 10).unwrap());

    let plain = digits.to_dataset_labels();
    assert_eq!(plain.inputs(), &digits.scaled_images());
    assert_eq!(plain.targets().shape(), (1797, 1));
    assert_eq!(label_column(&plain), digits.labels());

    let (images, labels) = digits.clone().into_parts();
    assert_eq!(&images, digits.images());
    assert_eq!(labels, digits.labels());
}

// ---------------------------------------------------------------------------------------------
// IDX
// ---------------------------------------------------------------------------------------------

#[test]
fn idx_images_round_trip_through_a_file() {
    let (bytes, pixels) = small_images();
    let file = TempFile::write("images-idx3-ubyte", &bytes);
    let m = read_idx_images::<f64>(&file.0).unwrap();
    assert_eq!(m.shape(), (3, 4));
    for i in 0..3 {
        for p in 0..4 {
            assert_eq!(
                m[(i, p)],
                f64::from(pixels[4 * i + p]),
                "image {i}, pixel {p}"
            );
        }
    }
    assert_eq!(m, parse_idx_images::<f64>(&bytes).unwrap());
    let single = read_idx_images::<f32>(&file.0).unwrap();
    assert_eq!(single.map(f64::from), m);
}

#[test]
fn idx_images_keep_the_full_byte_range() {
    let pixels: Vec<u8> = (0..=255).collect();
    let m = parse_idx_images::<f32>(&idx_images(2, 8, 16, &pixels)).unwrap();
    assert_eq!(m.shape(), (2, 128));
    assert_eq!(m[(0, 0)], 0.0);
    assert_eq!(m[(1, 127)], 255.0);
}

#[test]
fn idx_labels_round_trip_through_a_file() {
    let labels = [7u8, 0, 9, 255, 3];
    let file = TempFile::write("labels-idx1-ubyte", &idx_labels(&labels));
    assert_eq!(read_idx_labels(&file.0).unwrap(), vec![7, 0, 9, 255, 3]);
    assert_eq!(
        parse_idx_labels(&idx_labels(&labels)).unwrap(),
        vec![7, 0, 9, 255, 3]
    );
}

#[test]
fn idx_missing_file_is_an_io_error_naming_the_path() {
    let missing = TempFile::new("does-not-exist-idx3-ubyte");
    let name = missing.0.display().to_string();
    match read_idx_images::<f64>(&missing.0).unwrap_err() {
        Error::Io { path, .. } => assert_eq!(path, name),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    match read_idx_labels(&missing.0).unwrap_err() {
        Error::Io { path, .. } => assert_eq!(path, name),
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

#[test]
fn idx_format_errors_name_the_file() {
    let file = TempFile::write("bad-idx", &[1, 2, 3, 4, 5]);
    let name = file.0.display().to_string();
    match read_idx_images::<f64>(&file.0).unwrap_err() {
        Error::Format { path, .. } => assert_eq!(path, name),
        other => panic!("expected Error::Format, got {other:?}"),
    }
}

#[test]
fn idx_rejects_bad_magic_naming_expected_and_found() {
    let (images, _) = small_images();
    let labels = idx_labels(&[1, 2, 3]);

    // Labels where images are expected, and the other way round.
    let err = parse_idx_images::<f64>(&labels).unwrap_err();
    let reason = format_reason(&err);
    assert!(
        reason.contains("0x00000803") && reason.contains("0x00000801"),
        "{reason}"
    );
    let err = parse_idx_labels(&images).unwrap_err();
    let reason = format_reason(&err);
    assert!(
        reason.contains("0x00000801") && reason.contains("0x00000803"),
        "{reason}"
    );

    // Another element type (0x0D = f32) with the right dimension count.
    let mut floats = images.clone();
    floats[2] = 0x0D;
    let err = parse_idx_images::<f64>(&floats).unwrap_err();
    assert!(format_reason(&err).contains("0x00000D03"), "{err}");

    // A gzip file.
    let gz = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3];
    let err = parse_idx_images::<f64>(&gz).unwrap_err();
    assert!(format_reason(&err).contains("gzip"), "{err}");
    let err = parse_idx_labels(&gz[..2]).unwrap_err();
    assert!(format_reason(&err).contains("gzip"), "{err}");
}

#[test]
fn idx_rejects_sizes_that_disagree_with_the_header() {
    let (_, pixels) = small_images();

    // One pixel too many, one too few.
    let mut long = idx_images(3, 2, 2, &pixels);
    long.push(0);
    let err = parse_idx_images::<f64>(&long).unwrap_err();
    let reason = format_reason(&err);
    assert!(reason.contains("12") && reason.contains("13"), "{reason}");
    let err = parse_idx_images::<f64>(&idx_images(3, 2, 2, &pixels[..11])).unwrap_err();
    let reason = format_reason(&err);
    assert!(
        reason.contains("truncated") && reason.contains("11"),
        "{reason}"
    );

    // A header that declares far more than the file holds must fail before allocating.
    let err = parse_idx_images::<f64>(&idx_images(60_000, 28, 28, &pixels)).unwrap_err();
    assert!(format_reason(&err).contains("47040000"), "{err}");
    // A product that overflows 32 bits (and would overflow usize on 32-bit targets).
    let err =
        parse_idx_images::<f64>(&idx_images(u32::MAX, u32::MAX, u32::MAX, &pixels)).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");

    // Label counts.
    let mut labels = idx_labels(&[1, 2, 3]);
    labels.push(4);
    assert!(matches!(
        parse_idx_labels(&labels),
        Err(Error::Format { .. })
    ));
    let mut labels = idx_labels(&[1, 2, 3]);
    labels[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        parse_idx_labels(&labels),
        Err(Error::Format { .. })
    ));
}

#[test]
fn idx_rejects_empty_files_and_pixel_less_images() {
    assert!(matches!(
        parse_idx_images::<f64>(&idx_images(0, 28, 28, &[])),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        parse_idx_labels(&idx_labels(&[])),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        parse_idx_images::<f64>(&idx_images(5, 0, 28, &[])),
        Err(Error::Format { .. })
    ));
    assert!(matches!(
        parse_idx_images::<f64>(&[]),
        Err(Error::Format { .. })
    ));
    assert!(matches!(parse_idx_labels(&[]), Err(Error::Format { .. })));
}

#[test]
fn idx_every_truncation_is_a_typed_error() {
    let (images, _) = small_images();
    for len in 0..images.len() {
        match parse_idx_images::<f64>(&images[..len]) {
            Err(Error::Format { reason, .. }) => {
                assert!(reason.contains("truncated"), "length {len}: {reason}")
            }
            other => panic!("length {len}: expected a Format error, got {other:?}"),
        }
        let file = TempFile::write("truncated-idx3-ubyte", &images[..len]);
        assert!(
            matches!(read_idx_images::<f32>(&file.0), Err(Error::Format { .. })),
            "file of length {len}"
        );
    }
    let labels = idx_labels(&[4, 2, 0, 9]);
    for len in 0..labels.len() {
        match parse_idx_labels(&labels[..len]) {
            Err(Error::Format { reason, .. }) => {
                assert!(reason.contains("truncated"), "length {len}: {reason}")
            }
            other => panic!("length {len}: expected a Format error, got {other:?}"),
        }
    }
    // The full files still parse.
    assert!(parse_idx_images::<f64>(&images).is_ok());
    assert!(parse_idx_labels(&labels).is_ok());
}

#[test]
fn idx_header_byte_flip_sweep() {
    // Changing any single header byte to any other value changes the magic number or one
    // dimension; with every dimension non-zero, the declared size then no longer matches the 12
    // pixels, so every variant must be a Format error (and none may panic).
    let (images, _) = small_images();
    for at in 0..16 {
        for flip in 1..=255u8 {
            let mut bytes = images.clone();
            bytes[at] ^= flip;
            match parse_idx_images::<f64>(&bytes) {
                Err(Error::Format { .. }) => {}
                other => panic!("byte {at} ^ {flip:#04x}: expected a Format error, got {other:?}"),
            }
        }
    }
    let labels = idx_labels(&[1, 2, 3]);
    for at in 0..8 {
        for flip in 1..=255u8 {
            let mut bytes = labels.clone();
            bytes[at] ^= flip;
            match parse_idx_labels(&bytes) {
                Err(Error::Format { .. }) => {}
                other => panic!("byte {at} ^ {flip:#04x}: expected a Format error, got {other:?}"),
            }
        }
    }
}

#[test]
fn idx_arbitrary_bytes_never_panic() {
    // A cheap deterministic byte soup (xorshift), including short inputs with valid magic numbers.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..2000 {
        let len = (next() % 40) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 && len >= 4 {
            bytes[..4].copy_from_slice(if round % 4 == 0 {
                &[0, 0, 8, 3]
            } else {
                &[0, 0, 8, 1]
            });
        }
        if let Ok(m) = parse_idx_images::<f32>(&bytes) {
            assert_eq!(m.len() + 16, bytes.len());
        }
        if let Ok(l) = parse_idx_labels(&bytes) {
            assert_eq!(l.len() + 8, bytes.len());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

#[test]
fn csv_parses_with_and_without_a_header() {
    let m = parse_csv::<f64>("a,b,c\n1,2,3\n-4.5, 5e-1 ,6\n", true).unwrap();
    assert_eq!(
        m,
        DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, -4.5, 0.5, 6.0])
    );
    // CRLF, blank lines, a byte-order mark and no trailing newline.
    let m = parse_csv::<f32>("\u{feff}1,2\r\n\r\n3,4", false).unwrap();
    assert_eq!(m, DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]));
}

#[test]
fn csv_reads_a_file() {
    let file = TempFile::write("table.csv", b"x,y\n1,2\n3,4\n");
    let m = read_csv::<f64>(&file.0, true).unwrap();
    assert_eq!(m, DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]));
    // Read without a header, the header's names are values that cannot be parsed.
    let err = read_csv::<f64>(&file.0, false).unwrap_err();
    match &err {
        Error::Format { path, reason } => {
            assert_eq!(path, &file.0.display().to_string());
            assert!(reason.starts_with("line 1, field 1"), "{reason}");
        }
        other => panic!("expected Error::Format, got {other:?}"),
    }
}

#[test]
fn csv_errors_name_line_and_field() {
    let err = parse_csv::<f64>("a,b\n1,2\n3,oops\n", true).unwrap_err();
    let reason = format_reason(&err);
    assert!(
        reason.starts_with("line 3, field 2") && reason.contains("oops"),
        "{reason}"
    );

    // Blank lines still count in the line numbers.
    let err = parse_csv::<f64>("1,2\n\n3,\n", false).unwrap_err();
    let reason = format_reason(&err);
    assert!(
        reason.starts_with("line 3, field 2") && reason.contains("empty"),
        "{reason}"
    );

    // Not finite, or out of range for the element type.
    let err = parse_csv::<f64>("1,NaN\n", false).unwrap_err();
    assert!(format_reason(&err).starts_with("line 1, field 2"), "{err}");
    let err = parse_csv::<f64>("inf\n", false).unwrap_err();
    assert!(format_reason(&err).contains("finite"), "{err}");
    let err = parse_csv::<f32>("1\n1e300\n", false).unwrap_err();
    let reason = format_reason(&err);
    assert!(
        reason.starts_with("line 2, field 1") && reason.contains("f32"),
        "{reason}"
    );
    assert!(parse_csv::<f64>("1\n1e300\n", false).is_ok());
}

#[test]
fn csv_rejects_ragged_rows() {
    let err = parse_csv::<f64>("1,2,3\n4,5\n", false).unwrap_err();
    let reason = format_reason(&err);
    assert!(
        reason.contains("line 2 has 2 fields") && reason.contains("line 1 has 3"),
        "{reason}"
    );

    let err = parse_csv::<f64>("a,b\n1,2\n3,4,5\n", true).unwrap_err();
    let reason = format_reason(&err);
    assert!(
        reason.contains("line 3 has 3 fields") && reason.contains("header"),
        "{reason}"
    );
}

#[test]
fn csv_without_data_is_empty() {
    for (text, header) in [
        ("", false),
        ("", true),
        ("\n\n \n", false),
        ("a,b\n", true),
        ("a,b\n\n", true),
    ] {
        assert!(
            matches!(parse_csv::<f64>(text, header), Err(Error::Empty { .. })),
            "{text:?}, header {header}"
        );
    }
}

#[test]
fn csv_missing_file_is_an_io_error() {
    let missing = TempFile::new("missing.csv");
    assert!(matches!(
        read_csv::<f64>(&missing.0, true),
        Err(Error::Io { .. })
    ));
    let binary = TempFile::write("binary.csv", &[b'1', b',', 0xff, b'\n']);
    assert!(matches!(
        read_csv::<f64>(&binary.0, false),
        Err(Error::Format { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// One-hot and argmax
// ---------------------------------------------------------------------------------------------

#[test]
fn one_hot_puts_a_single_one_per_row() {
    let labels = [2, 0, 1, 2];
    let m = one_hot::<f64>(&labels, 3).unwrap();
    assert_eq!(
        m,
        DMatrix::from_row_slice(4, 3, &[0., 0., 1., 1., 0., 0., 0., 1., 0., 0., 0., 1.])
    );
    assert_eq!(argmax_rows(&m), labels);
    assert_eq!(one_hot::<f32>(&[], 4).unwrap().shape(), (0, 4));
}

#[test]
fn one_hot_rejects_an_invalid_label() {
    match one_hot::<f64>(&[0, 1, 5, 2], 3) {
        Err(Error::InvalidLabel {
            row: 2,
            label,
            classes: 3,
        }) => assert_eq!(label, 5.0),
        other => panic!("expected InvalidLabel at row 2, got {other:?}"),
    }
    assert!(matches!(
        one_hot::<f64>(&[0], 0),
        Err(Error::InvalidParameter { .. })
    ));
    // Too many entries to count, or to allocate: a typed error, not a panic or an abort.
    for classes in [usize::MAX, usize::MAX / 2 + 1] {
        assert!(matches!(
            one_hot::<f64>(&[0, 1], classes),
            Err(Error::TooLarge { rows: 2, .. })
        ));
    }
    assert!(matches!(
        one_hot::<f32>(&[0], usize::MAX),
        Err(Error::TooLarge {
            rows: 1,
            cols: usize::MAX,
            ..
        })
    ));
    assert!(matches!(
        one_hot::<f64>(&[0, 1, 2], usize::MAX / 2),
        Err(Error::TooLarge { rows: 3, .. })
    ));
}

#[test]
fn argmax_rows_takes_the_first_maximum_and_skips_nan() {
    let m = DMatrix::from_row_slice(
        4,
        3,
        &[
            1.0,
            3.0,
            3.0,
            -1.0,
            -2.0,
            -0.5,
            f64::NAN,
            2.0,
            1.0,
            f64::NAN,
            f64::NAN,
            f64::NAN,
        ],
    );
    assert_eq!(argmax_rows(&m), vec![1, 2, 1, 0]);
    assert!(argmax_rows(&DMatrix::<f64>::zeros(0, 3)).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Dataset
// ---------------------------------------------------------------------------------------------

/// `n` rows whose input row `r` is `[r, 2r]` and whose target is `[-r]`.
fn numbered(n: usize) -> Dataset<f64> {
    let x = DMatrix::from_fn(n, 2, |r, c| (r * (c + 1)) as f64);
    let y = DMatrix::from_fn(n, 1, |r, _| -(r as f64));
    Dataset::new(x, y).unwrap()
}

/// The row ids of a `numbered` data set, checking that every row is still paired.
fn ids(data: &Dataset<f64>) -> Vec<usize> {
    (0..data.len())
        .map(|r| {
            let id = data.inputs()[(r, 0)];
            assert_eq!(data.inputs()[(r, 1)], 2.0 * id, "row {r} inputs");
            assert_eq!(data.targets()[(r, 0)], -id, "row {r} target");
            id as usize
        })
        .collect()
}

#[test]
fn dataset_new_checks_rows_emptiness_and_values() {
    let data = numbered(3);
    assert_eq!((data.len(), data.is_empty()), (3, false));
    let (x, y) = data.into_parts();
    assert_eq!((x.shape(), y.shape()), ((3, 2), (3, 1)));

    assert!(matches!(
        Dataset::new(DMatrix::<f64>::zeros(3, 2), DMatrix::zeros(2, 1)),
        Err(Error::RowMismatch {
            inputs: 3,
            targets: 2
        })
    ));
    assert!(matches!(
        Dataset::new(DMatrix::<f64>::zeros(0, 2), DMatrix::zeros(0, 1)),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        Dataset::new(DMatrix::<f64>::zeros(2, 0), DMatrix::zeros(2, 1)),
        Err(Error::Empty { .. })
    ));

    let mut x = DMatrix::<f32>::zeros(4, 3);
    x[(2, 1)] = f32::INFINITY;
    x[(3, 0)] = f32::NAN;
    match Dataset::new(x, DMatrix::zeros(4, 1)) {
        Err(Error::NonFinite {
            what,
            row: 2,
            col: 1,
            value,
        }) => {
            assert_eq!(what, "inputs");
            assert_eq!(value, f64::INFINITY);
        }
        other => panic!("expected NonFinite at (2, 1), got {other:?}"),
    }
    let mut y = DMatrix::<f64>::zeros(4, 2);
    y[(0, 1)] = f64::NAN;
    assert!(matches!(
        Dataset::new(DMatrix::zeros(4, 3), y),
        Err(Error::NonFinite { row: 0, col: 1, .. })
    ));
}

#[test]
fn shuffle_keeps_rows_paired() {
    let mut data = numbered(50);
    data.shuffle(&mut StdRng::seed_from_u64(11));
    let order = ids(&data);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>(), "a permutation");
    assert_ne!(order, sorted, "the order changed");

    // Same seed, same order; another seed, another order.
    let mut again = numbered(50);
    again.shuffle(&mut StdRng::seed_from_u64(11));
    assert_eq!(ids(&again), order);
    let mut other = numbered(50);
    other.shuffle(&mut StdRng::seed_from_u64(12));
    assert_ne!(ids(&other), order);

    // A single row stays as it is.
    let mut one = numbered(1);
    one.shuffle(&mut StdRng::seed_from_u64(0));
    assert_eq!(ids(&one), vec![0]);
}

#[test]
fn split_sizes_and_coverage() {
    let data = numbered(10);
    let (train, test) = data.split(0.25, &mut StdRng::seed_from_u64(5)).unwrap();
    // 0.25 * 10 = 2.5 rounds up to 3.
    assert_eq!((train.len(), test.len()), (7, 3));
    let mut all = ids(&train);
    all.extend(ids(&test));
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>());

    for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
        assert!(
            matches!(
                data.split(bad, &mut StdRng::seed_from_u64(0)),
                Err(Error::InvalidParameter { .. })
            ),
            "{bad}"
        );
    }
    // 0.01 * 10 rounds to 0 test rows; 0.99 * 10 leaves no training rows.
    assert!(matches!(
        data.split(0.01, &mut StdRng::seed_from_u64(0)),
        Err(Error::Empty { what: "test set" })
    ));
    assert!(matches!(
        data.split(0.99, &mut StdRng::seed_from_u64(0)),
        Err(Error::Empty {
            what: "training set"
        })
    ));
}

#[test]
fn stratified_split_keeps_class_proportions() {
    let digits = digits::<f64>().unwrap();
    let data = digits.to_dataset_labels();
    let counts = class_counts(digits.labels().iter().copied());
    for (percent, seed) in [(25usize, 1u64), (20, 2), (50, 3), (10, 4)] {
        let fraction = percent as f64 / 100.0;
        let (train, test) = data
            .stratified_split(digits.labels(), fraction, &mut StdRng::seed_from_u64(seed))
            .unwrap();
        let test_counts = class_counts(label_column(&test));
        let train_counts = class_counts(label_column(&train));
        for (&class, &count) in &counts {
            // round(count * percent / 100) with halves up, in integer arithmetic.
            let expected = (count * percent * 2 + 100) / 200;
            assert_eq!(test_counts[&class], expected, "{percent}%, class {class}");
            assert_eq!(
                train_counts[&class],
                count - expected,
                "{percent}%, class {class}"
            );
        }
        assert_eq!(train.len() + test.len(), 1797);

        // Every image is in exactly one half: the multiset of rows is preserved.
        let mut rows: Vec<Vec<u64>> = train
            .inputs()
            .row_iter()
            .chain(test.inputs().row_iter())
            .map(|r| r.iter().map(|v| v.to_bits()).collect())
            .collect();
        let mut original: Vec<Vec<u64>> = data
            .inputs()
            .row_iter()
            .map(|r| r.iter().map(|v| v.to_bits()).collect())
            .collect();
        rows.sort();
        original.sort();
        assert_eq!(rows, original);
    }
}

#[test]
fn stratified_split_is_reproducible_per_seed() {
    let digits = digits::<f64>().unwrap();
    let data = digits.to_dataset_one_hot();
    let split = |seed| {
        data.stratified_split(digits.labels(), 0.2, &mut StdRng::seed_from_u64(seed))
            .unwrap()
    };
    let (train_a, test_a) = split(42);
    let (train_b, test_b) = split(42);
    assert_eq!(train_a, train_b);
    assert_eq!(test_a, test_b);
    let (train_c, test_c) = split(43);
    assert_ne!(test_a, test_c);
    assert_ne!(train_a, train_c);
    // The classes come out mixed, not grouped: the first 20 test rows hold several classes.
    let first: std::collections::BTreeSet<usize> =
        argmax_rows(test_a.targets()).into_iter().take(20).collect();
    assert!(first.len() > 3, "{first:?}");
}

#[test]
fn stratified_split_checks_its_arguments() {
    let data = numbered(6);
    let mut rng = StdRng::seed_from_u64(0);
    assert!(matches!(
        data.stratified_split(&[0, 1, 0], 0.5, &mut rng),
        Err(Error::Shape {
            expected: (6, 1),
            actual: (3, 1),
            ..
        })
    ));
    assert!(matches!(
        data.stratified_split(&[0; 6], 1.0, &mut rng),
        Err(Error::InvalidParameter { .. })
    ));
    // Six singleton classes at 25%: round(0.25) = 0 each, so no test rows.
    assert!(matches!(
        data.stratified_split(&[0, 1, 2, 3, 4, 5], 0.25, &mut rng),
        Err(Error::Empty { what: "test set" })
    ));
    // Singleton classes at 50% all go to the test set (halves round up).
    assert!(matches!(
        data.stratified_split(&[0, 1, 2, 3, 4, 5], 0.5, &mut rng),
        Err(Error::Empty {
            what: "training set"
        })
    ));
    // Large, sparse label values are classes like any other.
    let (train, test) = data
        .stratified_split(
            &[usize::MAX, 7, usize::MAX, 7, usize::MAX, 7],
            0.34,
            &mut rng,
        )
        .unwrap();
    assert_eq!((train.len(), test.len()), (4, 2));
}

#[test]
fn subset_picks_rows_in_order() {
    let data = numbered(5);
    assert_eq!(ids(&data.subset(&[4, 0, 4]).unwrap()), vec![4, 0, 4]);
    assert!(matches!(data.subset(&[]), Err(Error::Empty { .. })));
    match data.subset(&[1, 5]) {
        Err(Error::InvalidParameter { value, .. }) => assert_eq!(value, 5.0),
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Scalers
// ---------------------------------------------------------------------------------------------

#[test]
fn standardizer_gives_zero_mean_unit_std_columns() {
    // Columns with different offsets and spreads, plus a constant one.
    let x = DMatrix::from_fn(40, 4, |r, c| {
        let r = r as f64;
        match c {
            0 => r,
            1 => 1000.0 + 0.01 * (r * r),
            2 => -5.0 + ((r * 7.0) % 11.0),
            _ => 3.25,
        }
    });
    let scaler = Standardizer::fit(&x).unwrap();
    let z = scaler.transform(&x).unwrap();
    for c in 0..3 {
        // Independent arithmetic: plain sums over the column.
        let col: Vec<f64> = (0..40).map(|r| z[(r, c)]).collect();
        let mean = col.iter().sum::<f64>() / 40.0;
        let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 40.0;
        assert!(mean.abs() < 1e-12, "column {c}: mean {mean}");
        assert!(
            (var.sqrt() - 1.0).abs() < 1e-12,
            "column {c}: std {}",
            var.sqrt()
        );
    }
    assert!(z.column(3).iter().all(|&v| v == 0.0), "constant column");

    // Column 0 is 0..39: mean 19.5, population variance (40^2 - 1) / 12.
    assert_eq!(scaler.means()[0], 19.5);
    assert!((scaler.stds()[0] - (1599.0f64 / 12.0).sqrt()).abs() < 1e-12);
    assert_eq!(scaler.stds()[3], 0.0);

    // A constant column maps to 0 on new data too; the others use the fitted statistics.
    let new = DMatrix::from_row_slice(1, 4, &[19.5, 1000.0, -5.0, 99.0]);
    let t = scaler.transform(&new).unwrap();
    assert_eq!(t[(0, 0)], 0.0);
    assert_eq!(t[(0, 3)], 0.0);

    let mut in_place = x.clone();
    scaler.transform_in_place(&mut in_place).unwrap();
    assert_eq!(in_place, z);
}

#[test]
fn standardizer_works_in_f32() {
    let x = DMatrix::<f32>::from_fn(100, 2, |r, c| (r as f32) * (c as f32 + 0.5) + 3.0);
    let z = Standardizer::fit(&x).unwrap().transform(&x).unwrap();
    for c in 0..2 {
        let col: Vec<f64> = z.column(c).iter().map(|&v| f64::from(v)).collect();
        let mean = col.iter().sum::<f64>() / 100.0;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 100.0;
        assert!(mean.abs() < 1e-6, "{mean}");
        assert!((var.sqrt() - 1.0).abs() < 1e-6, "{var}");
    }
}

#[test]
fn scalers_reject_bad_input() {
    assert!(matches!(
        Standardizer::fit(&DMatrix::<f64>::zeros(0, 3)),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        Standardizer::fit(&DMatrix::<f64>::zeros(3, 0)),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        MinMaxScaler::fit(&DMatrix::<f64>::zeros(0, 3)),
        Err(Error::Empty { .. })
    ));
    let mut x = DMatrix::<f64>::zeros(3, 2);
    x[(1, 0)] = f64::NAN;
    assert!(matches!(
        Standardizer::fit(&x),
        Err(Error::NonFinite { row: 1, col: 0, .. })
    ));
    assert!(matches!(
        MinMaxScaler::fit(&x),
        Err(Error::NonFinite { row: 1, col: 0, .. })
    ));

    let fitted = DMatrix::<f64>::from_row_slice(2, 2, &[0.0, 1.0, 2.0, 3.0]);
    let standard = Standardizer::fit(&fitted).unwrap();
    let minmax = MinMaxScaler::fit(&fitted).unwrap();
    let wrong = DMatrix::<f64>::zeros(2, 3);
    assert!(matches!(
        standard.transform(&wrong),
        Err(Error::Shape {
            expected: (_, 2),
            actual: (2, 3),
            ..
        })
    ));
    let mut unchanged = DMatrix::<f64>::from_element(1, 3, 7.0);
    assert!(minmax.transform_in_place(&mut unchanged).is_err());
    assert_eq!(unchanged, DMatrix::from_element(1, 3, 7.0));
}

#[test]
fn min_max_scaler_maps_columns_to_unit_interval() {
    let digits = digits::<f64>().unwrap();
    let scaler = MinMaxScaler::fit(digits.images()).unwrap();
    let y = scaler.transform(digits.images()).unwrap();
    for c in 0..64 {
        let col = y.column(c);
        let (lo, hi) = (scaler.mins()[c], scaler.maxs()[c]);
        if lo == hi {
            assert!(col.iter().all(|&v| v == 0.0), "constant column {c}");
        } else {
            assert_eq!(col.min(), 0.0, "column {c}");
            assert_eq!(col.max(), 1.0, "column {c}");
            for (r, &v) in col.iter().enumerate() {
                let expected = (digits.images()[(r, c)] - lo) / (hi - lo);
                assert_eq!(v, expected, "({r}, {c})");
            }
        }
    }
    // Pixel (0, 0) is 0 in every image.
    assert_eq!((scaler.mins()[0], scaler.maxs()[0]), (0.0, 0.0));
    // New data outside the fitted range is not clipped.
    let x = DMatrix::from_row_slice(2, 1, &[2.0, 4.0]);
    let s = MinMaxScaler::fit(&x).unwrap();
    let out = s
        .transform(&DMatrix::from_row_slice(2, 1, &[0.0, 5.0]))
        .unwrap();
    assert_eq!(out.as_slice(), &[-1.0, 1.5]);
}
