//! Saving and loading: bit-for-bit round trips (with and without optimizer state), every
//! truncation, byte flips, mismatched and newer files, files of format version 1, and saves that
//! fail without harming the earlier file.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use backprop::io::{self, FORMAT_VERSION, SavedOptimizer};
use backprop::layer::{Dropout, Param, ParamMut};
use backprop::optim::StateTensor;
use backprop::prelude::*;
use nalgebra::DMatrix;
use safetensors::tensor::{SafeTensors, TensorView};

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backprop-io-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Seeded data of `rows x cols` in `[-1, 1)`.
fn data<T: Float>(seed: u32, rows: usize, cols: usize) -> DMatrix<T> {
    NumpyRng::new(seed)
        .random_matrix(rows, cols)
        .unwrap()
        .map(|u| T::of(2.0 * u - 1.0))
}

/// Trains a little, so that the weights are not those of any initialiser.
fn trained<T: Float>(mut model: Sequential<T>, targets: DMatrix<T>) -> Sequential<T> {
    let x = data::<T>(11, targets.nrows(), model.input_size());
    model
        .fit(
            &x,
            &targets,
            &mut Sgd::new(T::of(0.05)).unwrap(),
            &Fit::new(3).mini_batch(2),
        )
        .unwrap();
    model
}

/// One model per loss, covering every activation, with and without bias.
fn models<T: Float>() -> Vec<Sequential<T>> {
    let regression = data::<T>(5, 6, 2);
    let binary = DMatrix::from_fn(6, 1, |r, _| T::of((r % 2) as f64));
    let labels = DMatrix::from_fn(6, 1, |r, _| T::of((r % 3) as f64));
    vec![
        trained(
            Sequential::builder(3)
                .seed(1)
                .init(BookUniform)
                .bias(false)
                .dense(4, Relu)
                .dense(2, Identity)
                .build()
                .unwrap(),
            regression.clone(),
        ),
        trained(
            Sequential::builder(3)
                .seed(2)
                .dense(5, Tanh)
                .bias(false)
                .dense(2, Identity)
                .loss(Mse)
                .build()
                .unwrap(),
            regression,
        ),
        trained(
            Sequential::builder(3)
                .seed(3)
                .dense(4, Sigmoid)
                .dense(1, Sigmoid)
                .loss(BinaryCrossEntropy)
                .build()
                .unwrap(),
            binary,
        ),
        trained(
            Sequential::builder(3)
                .seed(6)
                .dense(5, Relu)
                .dropout(0.3)
                .dense(1, Identity)
                .build()
                .unwrap(),
            DMatrix::from_fn(6, 1, |r, _| T::of(r as f64 * 0.1)),
        ),
        trained(
            Sequential::builder(3)
                .seed(4)
                .dense(4, Relu)
                .dense(3, Tanh)
                .dense(3, Softmax)
                .loss(CategoricalCrossEntropy)
                .build()
                .unwrap(),
            labels,
        ),
    ]
}

/// A layer's name, sizes, activation, parameter names and dropout rate (as bits).
type LayerPrint = (String, usize, usize, String, Vec<&'static str>, Option<u64>);

/// Everything that defines a model: sizes, activation and parameter names, loss, and the bits of
/// every parameter.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    inputs: usize,
    layers: Vec<LayerPrint>,
    loss: &'static str,
    bits: Vec<Vec<u64>>,
}

fn fingerprint<T: Float>(model: &Sequential<T>) -> Fingerprint {
    let layers = (0..model.len())
        .map(|i| {
            let l = model.layer(i).unwrap();
            let names = (0..).map_while(|k| l.param(k).map(|p| p.name)).collect();
            let rate = model.layer_as::<Dropout<T>>(i).map(|d| d.rate().to_bits());
            (
                l.name().to_string(),
                l.input_size(),
                l.output_size(),
                l.activation().map_or("-", |f| f.name()).to_string(),
                names,
                rate,
            )
        })
        .collect();
    Fingerprint {
        inputs: model.input_size(),
        layers,
        loss: model.loss_fn().name(),
        bits: model
            .params()
            .iter()
            .map(|(_, _, m)| m.iter().map(|v| v.as_f64().to_bits()).collect())
            .collect(),
    }
}

fn round_trip<T: Float>(name: &str) {
    let dir = scratch(name);
    for (k, model) in models::<T>().into_iter().enumerate() {
        let path = dir.join(format!("model{k}.safetensors"));
        model.save(&path).unwrap();
        let loaded = Sequential::<T>::load(&path).unwrap();
        assert_eq!(fingerprint(&loaded), fingerprint(&model), "model {k}");
        let x = data::<T>(9, 5, 3);
        let (a, b) = (model.predict(&x).unwrap(), loaded.predict(&x).unwrap());
        let bits = |m: &DMatrix<T>| m.iter().map(|v| v.as_f64().to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "model {k} predictions");
        // The bytes API reads and writes the same format.
        let bytes = io::to_bytes(&model).unwrap();
        assert_eq!(bytes.len(), fs::metadata(&path).unwrap().len() as usize);
        let from_file = io::from_bytes::<T>(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(fingerprint(&from_file), fingerprint(&model));
        assert_eq!(
            fingerprint(&io::from_bytes::<T>(&bytes).unwrap()),
            fingerprint(&model)
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn round_trip_is_bit_for_bit_in_f64() {
    round_trip::<f64>("rt64");
}

#[test]
fn round_trip_is_bit_for_bit_in_f32() {
    round_trip::<f32>("rt32");
}

#[test]
fn the_file_is_plain_safetensors_with_the_architecture_in_its_metadata() {
    let model = models::<f64>().remove(2);
    let bytes = io::to_bytes(&model).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().as_ref().unwrap();
    let expect = [
        ("format", "backprop.Sequential"),
        ("format_version", "1"),
        ("dtype", "f64"),
        ("inputs", "3"),
        ("layers", "2"),
        ("loss", "BinaryCrossEntropy"),
        ("layer.0.kind", "Dense"),
        ("layer.0.inputs", "3"),
        ("layer.0.outputs", "4"),
        ("layer.0.bias", "true"),
        ("layer.0.activation", "Sigmoid"),
        ("layer.1.activation", "Sigmoid"),
    ];
    for (k, v) in expect {
        assert_eq!(meta.get(k).map(String::as_str), Some(v), "{k}");
    }
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let w = file.tensor("layer.0.weights").unwrap();
    assert_eq!(w.shape(), &[3, 4]);
    assert_eq!(file.tensor("layer.0.bias").unwrap().shape(), &[4]);
    // Row-major, as numpy reads it: element (1, 2) is the 1 * 4 + 2 = 6th value.
    let v = f64::from_le_bytes(w.data()[6 * 8..7 * 8].try_into().unwrap());
    assert_eq!(v.to_bits(), model.weights(0).unwrap()[(1, 2)].to_bits());
}

#[test]
fn loading_the_other_float_type_is_a_clear_error() {
    let dir = scratch("dtype");
    let path = dir.join("m.safetensors");
    models::<f64>().remove(0).save(&path).unwrap();
    let err = Sequential::<f32>::load(&path).unwrap_err();
    assert_eq!(
        err,
        Error::FloatType {
            path: path.display().to_string(),
            expected: "f32",
            found: "f64".into()
        }
    );
    models::<f32>().remove(0).save(&path).unwrap();
    assert!(matches!(
        Sequential::<f64>::load(&path),
        Err(Error::FloatType {
            expected: "f64",
            ..
        })
    ));
    fs::remove_dir_all(&dir).unwrap();
}

/// Rewrites a saved file with `edit` applied to its metadata and tensors, without its checksum
/// (as a file edited by another tool, or written before checksums), so that the checks behind
/// the checksum are what a load meets.
fn rewrite<'a>(
    bytes: &'a [u8],
    edit: impl FnOnce(&mut HashMap<String, String>, &mut Vec<(String, TensorView<'a>)>),
) -> Vec<u8> {
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    meta.remove("checksum");
    let file = SafeTensors::deserialize(bytes).unwrap();
    let mut tensors = file.tensors();
    edit(&mut meta, &mut tensors);
    safetensors::serialize(tensors, Some(meta)).unwrap()
}

#[test]
fn a_file_from_a_newer_format_version_is_refused_clearly() {
    let bytes = io::to_bytes(&models::<f64>().remove(0)).unwrap();
    let newer = rewrite(&bytes, |meta, _| {
        meta.insert("format_version".into(), (FORMAT_VERSION + 1).to_string());
        // A newer version may change anything else too.
        meta.insert("layer.0.kind".into(), "Conv2d".into());
    });
    let dir = scratch("newer");
    let path = dir.join("newer.safetensors");
    fs::write(&path, &newer).unwrap();
    let err = Sequential::<f64>::load(&path).unwrap_err();
    assert_eq!(
        err,
        Error::FormatVersion {
            path: path.display().to_string(),
            found: FORMAT_VERSION + 1,
            supported: FORMAT_VERSION
        }
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("format version {}", FORMAT_VERSION + 1))
            && text.contains("upgrade"),
        "{text}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mismatched_files_are_format_errors() {
    let bytes = io::to_bytes(&models::<f64>().remove(2)).unwrap();
    let nan = [f64::NAN.to_le_bytes(); 4].concat();
    type Edit = Box<dyn Fn(&mut HashMap<String, String>, &mut Vec<(String, TensorView<'_>)>)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("no format", Box::new(|m, _| drop(m.remove("format")))),
        (
            "other format",
            Box::new(|m, _| drop(m.insert("format".into(), "x".into()))),
        ),
        (
            "version 0",
            Box::new(|m, _| drop(m.insert("format_version".into(), "0".into()))),
        ),
        (
            "bad version",
            Box::new(|m, _| drop(m.insert("format_version".into(), "one".into()))),
        ),
        (
            "inputs",
            Box::new(|m, _| drop(m.insert("inputs".into(), "4".into()))),
        ),
        (
            "no layers",
            Box::new(|m, _| drop(m.insert("layers".into(), "0".into()))),
        ),
        (
            "many layers",
            Box::new(|m, _| drop(m.insert("layers".into(), "99999999999".into()))),
        ),
        (
            "sizes",
            Box::new(|m, _| drop(m.insert("layer.1.inputs".into(), "5".into()))),
        ),
        (
            "kind",
            Box::new(|m, _| drop(m.insert("layer.0.kind".into(), "Dropout".into()))),
        ),
        (
            "activation",
            Box::new(|m, _| drop(m.insert("layer.1.activation".into(), "Gelu".into()))),
        ),
        (
            "loss",
            Box::new(|m, _| drop(m.insert("loss".into(), "Hinge".into()))),
        ),
        (
            "bias flag",
            Box::new(|m, _| drop(m.insert("layer.0.bias".into(), "yes".into()))),
        ),
        (
            "bias missing",
            Box::new(|_, t| t.retain(|(n, _)| n != "layer.0.bias")),
        ),
        (
            "no bias declared",
            Box::new(|m, _| drop(m.insert("layer.1.bias".into(), "false".into()))),
        ),
        (
            "extra tensor",
            Box::new(|_, t| {
                let w = t
                    .iter()
                    .find(|(n, _)| n == "layer.1.bias")
                    .unwrap()
                    .1
                    .clone();
                t.push(("optimizer.0.m".into(), w));
            }),
        ),
        (
            "shape",
            Box::new(|m, _| {
                m.insert("layer.0.outputs".into(), "2".into());
                m.insert("layer.1.inputs".into(), "2".into());
            }),
        ),
    ];
    for (name, edit) in cases {
        let bad = rewrite(&bytes, |m, t| edit(m, t));
        match io::from_bytes::<f64>(&bad) {
            Err(Error::Format { reason, .. }) => assert!(!reason.is_empty(), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    // A dropout layer's rate must be a rate.
    let with_dropout = io::to_bytes(&models::<f64>().remove(3)).unwrap();
    for rate in ["1.5", "-0.1", "NaN", "x", ""] {
        let bad = rewrite(&with_dropout, |m, _| {
            m.insert("layer.1.rate".into(), rate.into());
        });
        assert!(
            matches!(io::from_bytes::<f64>(&bad), Err(Error::Format { .. })),
            "rate {rate:?}"
        );
    }
    // A NaN weight is caught too.
    let bad = rewrite(&bytes, |_, t| {
        let i = t.iter().position(|(n, _)| n == "layer.0.bias").unwrap();
        t[i].1 = TensorView::new(safetensors::Dtype::F64, vec![4], &nan).unwrap();
    });
    let err = io::from_bytes::<f64>(&bad).unwrap_err();
    assert!(
        matches!(&err, Error::Format { reason, .. } if reason.contains("non-finite")),
        "{err}"
    );
    // So are files that are no model at all.
    for junk in [&b""[..], b"not a safetensors file", &[0xff; 64]] {
        assert!(matches!(
            io::from_bytes::<f64>(junk),
            Err(Error::Format { .. })
        ));
    }
    let plain = safetensors::serialize(
        [(
            "w",
            TensorView::new(safetensors::Dtype::F64, vec![1], &[0; 8]).unwrap(),
        )],
        None,
    )
    .unwrap();
    assert!(matches!(
        io::from_bytes::<f64>(&plain),
        Err(Error::Format { .. })
    ));
}

#[test]
fn every_truncation_of_a_small_model_is_an_error() {
    let model = models::<f64>().remove(2);
    let bytes = io::to_bytes(&model).unwrap();
    let dir = scratch("trunc");
    let path = dir.join("t.safetensors");
    for len in 0..bytes.len() {
        fs::write(&path, &bytes[..len]).unwrap();
        match Sequential::<f64>::load(&path) {
            Err(Error::Format { .. }) => {}
            other => panic!("truncated to {len} of {} bytes: {other:?}", bytes.len()),
        }
    }
    fs::write(&path, &bytes).unwrap();
    assert_eq!(
        fingerprint(&Sequential::<f64>::load(&path).unwrap()),
        fingerprint(&model)
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Where each parameter's bytes are in a saved file: (offset, layer-ordered parameter index,
/// columns of the matrix), so that a flipped data byte can be traced to its value.
fn data_layout(bytes: &[u8], model: &Sequential<f64>) -> Vec<(usize, usize, usize)> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    model
        .params()
        .iter()
        .enumerate()
        .map(|(k, (layer, name, m))| {
            let view = file.tensor(&format!("layer.{layer}.{name}")).unwrap();
            let offset = view.data().as_ptr() as usize - bytes.as_ptr() as usize;
            (offset, k, m.ncols())
        })
        .collect()
}

fn check_flip(original: &Sequential<f64>, bytes: &[u8], at: usize, mask: u8) {
    let mut flipped = bytes.to_vec();
    flipped[at] ^= mask;
    let Ok(loaded) = io::from_bytes::<f64>(&flipped) else {
        return; // a typed error: fine
    };
    // A model came back: it must be fully formed, and differ from the original in at most the
    // one value whose bytes were hit.
    let (got, want) = (fingerprint(&loaded), fingerprint(original));
    assert_eq!(got.layers, want.layers, "byte {at}");
    assert_eq!(got.loss, want.loss, "byte {at}");
    let mut expected = want.bits.clone();
    for (offset, k, cols) in data_layout(bytes, original) {
        let len = want.bits[k].len() * 8;
        if (offset..offset + len).contains(&at) {
            let element = (at - offset) / 8; // row-major in the file
            let (r, c) = (element / cols, element % cols);
            let rows = want.bits[k].len() / cols;
            let index = c * rows + r; // column-major in the matrix
            expected[k][index] ^= (mask as u64) << (8 * ((at - offset) % 8));
        }
    }
    assert_eq!(got.bits, expected, "byte {at} mask {mask:#04x}");
    let x = data::<f64>(3, 2, 3);
    assert!(loaded.predict(&x).is_ok());
}

#[test]
fn byte_flips_give_an_error_or_a_fully_formed_model() {
    let model = models::<f64>().remove(2);
    let bytes = io::to_bytes(&model).unwrap();
    // Every byte, with a few masks: the low bit, a case/space bit, the sign/high bit, all bits.
    for at in 0..bytes.len() {
        for mask in [0x01, 0x20, 0x80, 0xff] {
            check_flip(&model, &bytes, at, mask);
        }
    }
    // And seeded random flips of one to three bytes at once.
    let mut rng = NumpyRng::new(2024);
    for _ in 0..3000 {
        let mut flipped = bytes.clone();
        let n = 1 + (rng.random() * 3.0) as usize;
        for _ in 0..n {
            let at = (rng.random() * bytes.len() as f64) as usize;
            flipped[at] ^= 1 + (rng.random() * 255.0) as u8;
        }
        if let Ok(loaded) = io::from_bytes::<f64>(&flipped) {
            assert_eq!(fingerprint(&loaded).layers, fingerprint(&model).layers);
            assert!(loaded.predict(&data::<f64>(3, 2, 3)).is_ok());
        }
    }
}

/// A layer the file format does not know.
#[derive(Debug, Clone)]
struct Scale {
    s: DMatrix<f64>,
    g: DMatrix<f64>,
}

impl Layer<f64> for Scale {
    fn name(&self) -> &str {
        "Scale"
    }
    fn input_size(&self) -> usize {
        3
    }
    fn output_size(&self) -> usize {
        3
    }
    fn forward(&self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
        output.copy_from(&(input * self.s[(0, 0)]));
    }
    fn backward(
        &mut self,
        input: MatrixView<'_, f64>,
        delta: MatrixView<'_, f64>,
        grad_input: Option<MatrixViewMut<'_, f64>>,
    ) {
        self.g[(0, 0)] = input.dot(&delta);
        if let Some(mut g) = grad_input {
            g.copy_from(&(delta * self.s[(0, 0)]));
        }
    }
    fn param(&self, k: usize) -> Option<Param<'_, f64>> {
        (k == 0).then_some(Param {
            name: "s",
            value: &self.s,
            grad: &self.g,
        })
    }
    fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, f64>> {
        (k == 0).then_some(ParamMut {
            name: "s",
            value: &mut self.s,
            grad: &mut self.g,
        })
    }
}

/// An activation the file format does not know.
#[derive(Debug, Clone)]
struct Leaky;

impl Activation<f64> for Leaky {
    fn name(&self) -> &'static str {
        "Leaky"
    }
    fn forward(&self, mut z: MatrixViewMut<'_, f64>) {
        z.apply(|x| *x = x.max(0.1 * *x));
    }
    fn backward(&self, output: MatrixView<'_, f64>, mut delta: MatrixViewMut<'_, f64>) {
        delta.zip_apply(&output, |d, a| {
            if a < 0.0 {
                *d *= 0.1
            }
        });
    }
}

/// A loss the file format does not know.
#[derive(Debug, Clone)]
struct Absolute;

impl Loss<f64> for Absolute {
    fn name(&self) -> &'static str {
        "Absolute"
    }
    fn loss(&self, pred: MatrixView<'_, f64>, target: MatrixView<'_, f64>) -> f64 {
        (pred - target).abs().sum() / pred.nrows() as f64
    }
    fn gradient(
        &self,
        pred: MatrixView<'_, f64>,
        target: MatrixView<'_, f64>,
        mut grad: MatrixViewMut<'_, f64>,
    ) {
        let n = pred.nrows() as f64;
        grad.copy_from(&(pred - target).map(|d| d.signum() / n));
    }
}

#[test]
fn only_the_crates_own_parts_can_be_saved() {
    let scale = Scale {
        s: DMatrix::from_element(1, 1, 2.0),
        g: DMatrix::zeros(1, 1),
    };
    let custom_layer = Sequential::builder(3)
        .dense(3, Relu)
        .add(scale)
        .build()
        .unwrap();
    assert_eq!(
        io::to_bytes(&custom_layer).unwrap_err(),
        Error::Unsupported {
            what: "layer 1 (Scale)".into()
        }
    );
    let custom_activation = Sequential::builder(3).dense(3, Leaky).build().unwrap();
    let err = io::to_bytes(&custom_activation).unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { what } if what.contains("Leaky")),
        "{err}"
    );
    let custom_loss = Sequential::<f64>::builder(3)
        .dense(1, Identity)
        .loss(Absolute)
        .build()
        .unwrap();
    let err = io::to_bytes(&custom_loss).unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { what } if what.contains("Absolute")),
        "{err}"
    );
}

fn temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_failed_save_leaves_the_earlier_file_readable() {
    let dir = scratch("failed");
    let path = dir.join("model.safetensors");
    let earlier = models::<f64>().remove(0);
    earlier.save(&path).unwrap();
    let want = fingerprint(&earlier);

    // A model that cannot be saved, saved over it: refused before the disk is touched.
    let unsavable = Sequential::<f64>::builder(3)
        .dense(1, Identity)
        .loss(Absolute)
        .build()
        .unwrap();
    assert!(unsavable.save(&path).is_err());
    assert_eq!(fingerprint(&Sequential::<f64>::load(&path).unwrap()), want);

    // A directory that cannot be written to (unless permissions are not enforced, as for root).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
        let probe = dir.join("probe");
        let enforced = fs::write(&probe, b"").is_err();
        let _ = fs::remove_file(&probe);
        if enforced {
            let other = models::<f64>().remove(1);
            let err = other.save(&path).unwrap_err();
            assert!(matches!(err, Error::Io { .. }), "{err:?}");
            assert_eq!(fingerprint(&Sequential::<f64>::load(&path).unwrap()), want);
        } else {
            eprintln!(
                "directory permissions are not enforced here (root?): read-only case skipped"
            );
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    }

    // Paths that cannot be files: a directory, a file's child, a missing directory.
    let sub = dir.join("sub");
    fs::create_dir(&sub).unwrap();
    for bad in [
        sub.clone(),
        path.join("child"),
        dir.join("missing").join("m"),
    ] {
        let err = earlier.save(&bad).unwrap_err();
        assert!(
            matches!(err, Error::Io { .. }),
            "{}: {err:?}",
            bad.display()
        );
    }
    assert!(sub.is_dir());
    assert_eq!(fingerprint(&Sequential::<f64>::load(&path).unwrap()), want);
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));

    // And a successful save replaces the file, leaving no temporary behind.
    let next = models::<f64>().remove(4);
    next.save(&path).unwrap();
    assert_eq!(
        fingerprint(&Sequential::<f64>::load(&path).unwrap()),
        fingerprint(&next)
    );
    assert!(temporaries(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let path = std::env::temp_dir().join("backprop-io-surely-missing.safetensors");
    let err = Sequential::<f64>::load(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, .. } if p.contains("surely-missing")),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn saving_over_a_file_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("perm");
    let path = dir.join("private.safetensors");
    let model = models::<f64>().remove(0);
    model.save(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    models::<f64>().remove(1).save(&path).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    fs::remove_dir_all(&dir).unwrap();
}

// ----- optimizer state ------------------------------------------------------------------------

/// The bits of every parameter of a model, in optimizer order.
fn param_bits<T: Float>(model: &Sequential<T>) -> Vec<Vec<u64>> {
    fingerprint(model).bits
}

/// An optimizer state as `(index, name, shape, bits)`, in its order, with its step count.
type StatePrint = (u64, Vec<(usize, String, (usize, usize), Vec<u64>)>);

fn state_print<T: Float>(state: &OptimizerState<T>) -> StatePrint {
    let tensors = state
        .tensors
        .iter()
        .map(|t| {
            let bits = t.value.iter().map(|v| v.as_f64().to_bits()).collect();
            (t.index, t.name.clone(), t.value.shape(), bits)
        })
        .collect();
    (state.step, tensors)
}

/// The models of [`models`] whose further training does not depend on a dropout generator (a
/// loaded dropout layer draws other masks), with their training data.
fn resumable<T: Float>() -> Vec<(Sequential<T>, DMatrix<T>, DMatrix<T>)> {
    let regression = data::<T>(5, 6, 2);
    let binary = DMatrix::from_fn(6, 1, |r, _| T::of((r % 2) as f64));
    let labels = DMatrix::from_fn(6, 1, |r, _| T::of((r % 3) as f64));
    let mut all = models::<T>();
    let x = data::<T>(11, 6, 3);
    vec![
        (all.remove(0), x.clone(), regression.clone()),
        (all.remove(0), x.clone(), regression),
        (all.remove(0), x.clone(), binary),
        (all.remove(1), x, labels),
    ]
}

/// One step on each mini-batch of two rows, in order.
fn train_steps<T: Float>(
    model: &mut Sequential<T>,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
    opt: &mut dyn Optimizer<T>,
    rounds: usize,
) {
    for _ in 0..rounds {
        for start in (0..x.nrows()).step_by(2) {
            let (xb, yb) = (x.rows(start, 2).into_owned(), y.rows(start, 2).into_owned());
            model.step(&xb, &yb, opt).unwrap();
        }
    }
}

/// Trains with `make()`'s optimizer, saves model and state, then checks that the loaded pair,
/// restored into a fresh optimizer of the same settings, continues exactly as the original pair.
fn resumes_exactly<T: Float, O: Optimizer<T>>(
    dir: &Path,
    make: impl Fn() -> O,
    kind: &str,
    buffers: &[&str],
) {
    for (k, (mut model, x, y)) in resumable::<T>().into_iter().enumerate() {
        let mut opt = make();
        train_steps(&mut model, &x, &y, &mut opt, 2);
        let path = dir.join(format!("{kind}-{k}.safetensors"));
        model.save_with_optimizer(&opt, &path).unwrap();
        let at_save = state_print(&opt.state());
        let lr = opt.learning_rate();

        let (mut loaded, saved) = Sequential::<T>::load_with_optimizer(&path).unwrap();
        let saved = saved.expect("optimizer state");
        assert_eq!(saved.kind, Some(kind));
        assert_eq!(
            saved.learning_rate.as_f64().to_bits(),
            lr.as_f64().to_bits()
        );
        assert_eq!(state_print(&saved.state), at_save, "{kind}, model {k}");
        let names: Vec<&str> = saved
            .state
            .tensors
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        for b in buffers {
            assert!(names.contains(b), "{kind}: {b} missing from {names:?}");
        }
        assert_eq!(param_bits(&loaded), param_bits(&model), "{kind}, model {k}");

        // Restored by hand, as the module documentation shows, and through `restore`.
        let mut by_hand = make();
        by_hand.load_state(&saved.state).unwrap();
        let mut restored = make();
        restored.set_learning_rate(T::of(0.5)).unwrap();
        saved.restore(&mut restored).unwrap();
        assert_eq!(restored.learning_rate().as_f64(), lr.as_f64());
        let mut loaded_too = Sequential::<T>::load(&path).unwrap();

        train_steps(&mut model, &x, &y, &mut opt, 2);
        train_steps(&mut loaded, &x, &y, &mut by_hand, 2);
        train_steps(&mut loaded_too, &x, &y, &mut restored, 2);
        let want = (param_bits(&model), state_print(&opt.state()));
        assert_eq!(
            (param_bits(&loaded), state_print(&by_hand.state())),
            want,
            "{kind}, model {k}"
        );
        assert_eq!(
            (param_bits(&loaded_too), state_print(&restored.state())),
            want,
            "{kind}, model {k}"
        );
        // The training did move something, so the comparison could fail.
        assert_ne!(state_print(&opt.state()), at_save);
    }
}

fn every_optimizer_resumes_exactly<T: Float>(name: &str) {
    let dir = scratch(name);
    let lr = |v: f64| T::of(v);
    resumes_exactly::<T, _>(
        &dir,
        || Sgd::new(lr(0.05)).unwrap().momentum(lr(0.9)).unwrap(),
        "Sgd",
        &["momentum_buffer"],
    );
    resumes_exactly::<T, _>(
        &dir,
        || {
            Sgd::new(lr(0.05))
                .unwrap()
                .momentum(lr(0.5))
                .unwrap()
                .nesterov(true)
                .unwrap()
                .weight_decay(lr(0.01))
                .unwrap()
        },
        "Sgd",
        &["momentum_buffer"],
    );
    resumes_exactly::<T, _>(
        &dir,
        || RmsProp::new(lr(0.01)).unwrap(),
        "RmsProp",
        &["square_avg"],
    );
    resumes_exactly::<T, _>(
        &dir,
        || {
            RmsProp::new(lr(0.01))
                .unwrap()
                .momentum(lr(0.9))
                .unwrap()
                .centered(true)
        },
        "RmsProp",
        &["square_avg", "momentum_buffer", "grad_avg"],
    );
    resumes_exactly::<T, _>(
        &dir,
        || Adagrad::new(lr(0.1)).unwrap().lr_decay(lr(0.01)).unwrap(),
        "Adagrad",
        &["sum"],
    );
    resumes_exactly::<T, _>(
        &dir,
        || Adam::new(lr(0.01)).unwrap(),
        "Adam",
        &["exp_avg", "exp_avg_sq"],
    );
    resumes_exactly::<T, _>(
        &dir,
        || AdamW::new(lr(0.01)).unwrap().weight_decay(lr(0.1)).unwrap(),
        "AdamW",
        &["exp_avg", "exp_avg_sq"],
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn training_resumes_bit_for_bit_from_a_file_with_optimizer_state_in_f64() {
    every_optimizer_resumes_exactly::<f64>("resume64");
}

#[test]
fn training_resumes_bit_for_bit_from_a_file_with_optimizer_state_in_f32() {
    every_optimizer_resumes_exactly::<f32>("resume32");
}

/// The small model of the truncation and flip tests, trained a little with Adam.
fn small_with_adam() -> (Sequential<f64>, Adam<f64>) {
    let (mut model, x, y) = resumable::<f64>().remove(2);
    let mut adam = Adam::new(0.01).unwrap();
    train_steps(&mut model, &x, &y, &mut adam, 1);
    (model, adam)
}

#[test]
fn optimizer_state_is_plain_safetensors_with_documented_metadata() {
    let (model, adam) = small_with_adam();
    let bytes = io::to_bytes_with_optimizer(&model, &adam).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().as_ref().unwrap();
    let expect = [
        ("format_version", "2"),
        ("optimizer", "Adam"),
        ("optimizer.step", "3"),
        ("optimizer.learning_rate", "0.01"),
        ("optimizer.buffers", "exp_avg,exp_avg_sq"),
        ("layers", "2"),
    ];
    for (k, v) in expect {
        assert_eq!(meta.get(k).map(String::as_str), Some(v), "{k}");
    }
    let file = SafeTensors::deserialize(&bytes).unwrap();
    // Parameters in optimizer order: layer 0 weights (3 x 4), layer 0 bias (4), layer 1 weights
    // (4 x 1), layer 1 bias (1); each buffer has its parameter's tensor shape.
    let shapes = [vec![3, 4], vec![4], vec![4, 1], vec![1]];
    for (k, shape) in shapes.iter().enumerate() {
        for b in ["exp_avg", "exp_avg_sq"] {
            let view = file.tensor(&format!("optimizer.{k}.{b}")).unwrap();
            assert_eq!(view.shape(), &shape[..], "optimizer.{k}.{b}");
        }
    }
    assert_eq!(file.len(), 4 + 8);
    // Row-major, as numpy reads it: element (2, 1) of exp_avg_sq of the first weights.
    let view = file.tensor("optimizer.0.exp_avg_sq").unwrap();
    let v = f64::from_le_bytes(view.data()[(2 * 4 + 1) * 8..][..8].try_into().unwrap());
    let want = adam.state().get(0, "exp_avg_sq").unwrap()[(2, 1)];
    assert_eq!(v.to_bits(), want.to_bits());
    // A model saved alone stays format version 1, which every version of the crate reads.
    let alone = io::to_bytes(&model).unwrap();
    let (_, header) = SafeTensors::read_metadata(&alone).unwrap();
    let meta = header.metadata().as_ref().unwrap();
    assert_eq!(meta.get("format_version").map(String::as_str), Some("1"));
    assert!(meta.keys().all(|k| !k.starts_with("optimizer")));
    assert_eq!(
        io::from_bytes_with_optimizer::<f64>(&alone).unwrap().1,
        None
    );
    // An f32 rate is written with the fewest digits that read back as that f32.
    let (m32, _, _) = resumable::<f32>().remove(2);
    for (lr, text) in [(0.01f32, "0.01"), (3e-7, "3e-7"), (0.1 + 0.2, "0.3")] {
        let bytes = io::to_bytes_with_optimizer(&m32, &Adam::new(lr).unwrap()).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().as_ref().unwrap();
        assert_eq!(meta["optimizer.learning_rate"], text);
        let saved = io::from_bytes_with_optimizer::<f32>(&bytes)
            .unwrap()
            .1
            .unwrap();
        assert_eq!(saved.learning_rate.to_bits(), lr.to_bits());
    }
}

#[test]
fn load_reads_a_file_with_optimizer_state_and_drops_the_state() {
    let dir = scratch("drop");
    let path = dir.join("m.safetensors");
    let (model, adam) = small_with_adam();
    model.save_with_optimizer(&adam, &path).unwrap();
    assert_eq!(
        fingerprint(&Sequential::<f64>::load(&path).unwrap()),
        fingerprint(&model)
    );
    assert_eq!(
        fingerprint(&io::from_bytes::<f64>(&fs::read(&path).unwrap()).unwrap()),
        fingerprint(&model)
    );
    // ...but only after checking it: a damaged state fails the whole load.
    let bytes = fs::read(&path).unwrap();
    let nan = [f64::NAN.to_le_bytes(); 4].concat();
    let bad = rewrite(&bytes, |_, t| {
        let i = t
            .iter()
            .position(|(n, _)| n == "optimizer.1.exp_avg")
            .unwrap();
        t[i].1 = TensorView::new(safetensors::Dtype::F64, vec![4], &nan).unwrap();
    });
    fs::write(&path, &bad).unwrap();
    assert!(matches!(
        Sequential::<f64>::load(&path),
        Err(Error::Format { .. })
    ));
    // The other float type is refused as for a model alone.
    assert!(matches!(
        Sequential::<f32>::load_with_optimizer(&path),
        Err(Error::FloatType { .. })
    ));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_truncation_of_a_small_model_with_optimizer_state_is_an_error() {
    let (model, adam) = small_with_adam();
    let bytes = io::to_bytes_with_optimizer(&model, &adam).unwrap();
    let dir = scratch("trunc-opt");
    let path = dir.join("t.safetensors");
    for len in 0..bytes.len() {
        fs::write(&path, &bytes[..len]).unwrap();
        match Sequential::<f64>::load_with_optimizer(&path) {
            Err(Error::Format { .. }) => {}
            other => panic!("truncated to {len} of {} bytes: {other:?}", bytes.len()),
        }
        assert!(matches!(
            Sequential::<f64>::load(&path),
            Err(Error::Format { .. })
        ));
    }
    fs::write(&path, &bytes).unwrap();
    let (loaded, saved) = Sequential::<f64>::load_with_optimizer(&path).unwrap();
    assert_eq!(fingerprint(&loaded), fingerprint(&model));
    assert_eq!(
        state_print(&saved.unwrap().state),
        state_print(&adam.state())
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Where every tensor's bytes are in a saved file: name -> (offset, element count, columns of
/// the matrix it holds).
fn tensor_layout(bytes: &[u8]) -> HashMap<String, (usize, usize, usize)> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    file.iter()
        .map(|(name, view)| {
            let offset = view.data().as_ptr() as usize - bytes.as_ptr() as usize;
            let cols = *view.shape().last().unwrap();
            (name.to_string(), (offset, view.data().len() / 8, cols))
        })
        .collect()
}

/// Every value of a model and an optimizer state by tensor name, as bits in column-major order
/// (the matrices' order).
fn values_by_name(
    model: &Sequential<f64>,
    state: &OptimizerState<f64>,
) -> HashMap<String, Vec<u64>> {
    let bits = |m: &DMatrix<f64>| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let mut all: HashMap<String, Vec<u64>> = model
        .params()
        .iter()
        .map(|(layer, name, m)| (format!("layer.{layer}.{name}"), bits(m)))
        .collect();
    for t in &state.tensors {
        all.insert(format!("optimizer.{}.{}", t.index, t.name), bits(&t.value));
    }
    all
}

/// Loads `bytes` with one byte flipped: an error, or a model and a state that differ from the
/// original in at most the one value whose bytes were hit (the step count and learning rate may
/// change with a flipped digit), and that train together.
fn check_flip_with_state(
    model: &Sequential<f64>,
    adam: &Adam<f64>,
    bytes: &[u8],
    at: usize,
    mask: u8,
) {
    let mut flipped = bytes.to_vec();
    flipped[at] ^= mask;
    let Ok((mut loaded, saved)) = io::from_bytes_with_optimizer::<f64>(&flipped) else {
        return;
    };
    let saved = saved.unwrap_or_else(|| panic!("byte {at}: the optimizer state vanished"));
    assert_eq!(
        fingerprint(&loaded).layers,
        fingerprint(model).layers,
        "byte {at}"
    );
    let mut expected = values_by_name(model, &adam.state());
    for (name, (offset, len, cols)) in tensor_layout(bytes) {
        if (offset..offset + len * 8).contains(&at) {
            let element = (at - offset) / 8; // row-major in the file
            let rows = len / cols;
            let index = (element % cols) * rows + element / cols; // column-major in the matrix
            expected.get_mut(&name).unwrap()[index] ^= (mask as u64) << (8 * ((at - offset) % 8));
        }
    }
    assert_eq!(
        values_by_name(&loaded, &saved.state),
        expected,
        "byte {at} mask {mask:#04x}"
    );
    assert_eq!(saved.state.tensors.len(), adam.state().tensors.len());
    let mut fresh = Adam::new(0.01).unwrap();
    saved.restore(&mut fresh).unwrap();
    let (x, y) = (data::<f64>(3, 2, 3), DMatrix::from_element(2, 1, 1.0));
    // A flipped exponent may make a step diverge: a typed error, with the weights kept.
    let _ = loaded.step(&x, &y, &mut fresh);
    assert!(loaded.predict(&x).is_ok());
}

#[test]
fn byte_flips_of_a_file_with_optimizer_state_give_an_error_or_a_complete_result() {
    let (model, adam) = small_with_adam();
    let bytes = io::to_bytes_with_optimizer(&model, &adam).unwrap();
    for at in 0..bytes.len() {
        for mask in [0x01, 0x20, 0x80, 0xff] {
            check_flip_with_state(&model, &adam, &bytes, at, mask);
        }
    }
    let mut rng = NumpyRng::new(7);
    for _ in 0..3000 {
        let mut flipped = bytes.clone();
        let n = 1 + (rng.random() * 3.0) as usize;
        for _ in 0..n {
            let at = (rng.random() * bytes.len() as f64) as usize;
            flipped[at] ^= 1 + (rng.random() * 255.0) as u8;
        }
        if let Ok((mut loaded, saved)) = io::from_bytes_with_optimizer::<f64>(&flipped) {
            assert_eq!(fingerprint(&loaded).layers, fingerprint(&model).layers);
            let saved = saved.expect("the optimizer state");
            let mut fresh = Adam::new(0.01).unwrap();
            saved.restore(&mut fresh).unwrap();
            let x = data::<f64>(3, 2, 3);
            let _ = loaded.step(&x, &DMatrix::from_element(2, 1, 1.0), &mut fresh);
            assert!(loaded.predict(&x).is_ok());
        }
    }
}

#[test]
fn broken_optimizer_state_is_a_typed_error() {
    let (model, adam) = small_with_adam();
    let bytes = io::to_bytes_with_optimizer(&model, &adam).unwrap();
    // Leaked so that the edits below may hold them.
    let nan: &'static [u8] = [f64::NAN.to_le_bytes(); 12].concat().leak();
    let zeros: &'static [u8] = vec![0u8; 8 * 12].leak();
    type Edit = Box<dyn Fn(&mut HashMap<String, String>, &mut Vec<(String, TensorView<'_>)>)>;
    let meta = |k: &'static str, v: &'static str| -> Edit {
        Box::new(move |m, _| drop(m.insert(k.into(), v.into())))
    };
    let rename = |from: &'static str, to: &'static str| -> Edit {
        Box::new(move |_, t| {
            t.iter_mut().find(|(n, _)| n == from).unwrap().0 = to.into();
        })
    };
    let remove =
        |name: &'static str| -> Edit { Box::new(move |_, t| t.retain(|(n, _)| n != name)) };
    let cases: Vec<(&str, Edit)> = vec![
        (
            "wrong shape",
            Box::new(|_, t| {
                let i = t
                    .iter()
                    .position(|(n, _)| n == "optimizer.0.exp_avg")
                    .unwrap();
                t[i].1 = TensorView::new(safetensors::Dtype::F64, vec![4, 3], zeros).unwrap();
            }),
        ),
        (
            "bias as a matrix",
            Box::new(|_, t| {
                let i = t
                    .iter()
                    .position(|(n, _)| n == "optimizer.1.exp_avg")
                    .unwrap();
                t[i].1 =
                    TensorView::new(safetensors::Dtype::F64, vec![1, 4], &zeros[..32]).unwrap();
            }),
        ),
        (
            "NaN",
            Box::new(|_, t| {
                let i = t
                    .iter()
                    .position(|(n, _)| n == "optimizer.0.exp_avg_sq")
                    .unwrap();
                t[i].1 = TensorView::new(safetensors::Dtype::F64, vec![3, 4], nan).unwrap();
            }),
        ),
        (
            "unknown parameter",
            rename("optimizer.3.exp_avg", "optimizer.4.exp_avg"),
        ),
        (
            "huge index",
            rename(
                "optimizer.3.exp_avg",
                "optimizer.99999999999999999999999.exp_avg",
            ),
        ),
        (
            "leading zero",
            rename("optimizer.3.exp_avg", "optimizer.03.exp_avg"),
        ),
        (
            "sign",
            rename("optimizer.3.exp_avg", "optimizer.+3.exp_avg"),
        ),
        (
            "no index",
            rename("optimizer.3.exp_avg", "optimizer..exp_avg"),
        ),
        ("no buffer", rename("optimizer.3.exp_avg", "optimizer.3")),
        (
            "unlisted buffer",
            rename("optimizer.3.exp_avg", "optimizer.3.sum"),
        ),
        ("a buffer missing", remove("optimizer.2.exp_avg_sq")),
        (
            "a buffer nobody has",
            Box::new(|_, t| t.retain(|(n, _)| !n.ends_with("exp_avg_sq"))),
        ),
        (
            "buffers twice",
            meta("optimizer.buffers", "exp_avg,exp_avg_sq,exp_avg"),
        ),
        (
            "buffers of another optimizer",
            meta("optimizer.buffers", "exp_avg,sum"),
        ),
        (
            "buffers out of order",
            meta("optimizer.buffers", "exp_avg_sq,exp_avg"),
        ),
        (
            "empty buffer name",
            meta("optimizer.buffers", "exp_avg,,exp_avg_sq"),
        ),
        ("no buffers listed", meta("optimizer.buffers", "")),
        ("unknown optimizer", meta("optimizer", "Lamb")),
        ("negative step", meta("optimizer.step", "-1")),
        ("step not a number", meta("optimizer.step", "three")),
        (
            "step too large",
            meta("optimizer.step", "18446744073709551616"),
        ),
        ("NaN rate", meta("optimizer.learning_rate", "NaN")),
        ("infinite rate", meta("optimizer.learning_rate", "inf")),
        ("negative rate", meta("optimizer.learning_rate", "-0.1")),
        ("rate not a number", meta("optimizer.learning_rate", "fast")),
        ("no step", Box::new(|m, _| drop(m.remove("optimizer.step")))),
        (
            "no rate",
            Box::new(|m, _| drop(m.remove("optimizer.learning_rate"))),
        ),
        (
            "no buffer list",
            Box::new(|m, _| drop(m.remove("optimizer.buffers"))),
        ),
        // Without the `optimizer` key the buffers are tensors of no known part.
        (
            "no optimizer key",
            Box::new(|m, _| drop(m.remove("optimizer"))),
        ),
        // Version 1 files have no optimizer state.
        ("version 1", meta("format_version", "1")),
    ];
    for (name, edit) in cases {
        let bad = rewrite(&bytes, |m, t| edit(m, t));
        match io::from_bytes_with_optimizer::<f64>(&bad) {
            Err(Error::Format { reason, .. }) => assert!(!reason.is_empty(), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        assert!(io::from_bytes::<f64>(&bad).is_err(), "{name}");
    }
    // The error says what is wrong.
    let nan_case = rewrite(&bytes, |_, t| {
        let i = t
            .iter()
            .position(|(n, _)| n == "optimizer.0.exp_avg_sq")
            .unwrap();
        t[i].1 = TensorView::new(safetensors::Dtype::F64, vec![3, 4], nan).unwrap();
    });
    let err = io::from_bytes_with_optimizer::<f64>(&nan_case).unwrap_err();
    assert!(err.to_string().contains("non-finite"), "{err}");
    let unknown = rewrite(&bytes, |_, t| {
        t.iter_mut()
            .find(|(n, _)| n == "optimizer.3.exp_avg")
            .unwrap()
            .0 = "optimizer.4.exp_avg".into();
    });
    let err = io::from_bytes_with_optimizer::<f64>(&unknown).unwrap_err();
    assert!(err.to_string().contains("parameter 4"), "{err}");
    // A buffer of the other float type.
    let f32_buffer = rewrite(&bytes, |_, t| {
        let i = t
            .iter()
            .position(|(n, _)| n == "optimizer.3.exp_avg")
            .unwrap();
        t[i].1 = TensorView::new(safetensors::Dtype::F32, vec![1], &[0; 4]).unwrap();
    });
    assert!(matches!(
        io::from_bytes_with_optimizer::<f64>(&f32_buffer),
        Err(Error::FloatType { .. })
    ));
}

/// An optimizer from outside the crate, with whatever state it is given.
#[derive(Debug)]
struct Custom {
    lr: f64,
    state: OptimizerState<f64>,
}

impl Optimizer<f64> for Custom {
    fn update(&mut self, _index: usize, value: &mut DMatrix<f64>, grad: &DMatrix<f64>) {
        *value -= grad * self.lr;
    }
    fn learning_rate(&self) -> f64 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.lr = lr;
        Ok(())
    }
    fn state(&self) -> OptimizerState<f64> {
        self.state.clone()
    }
    fn load_state(&mut self, state: &OptimizerState<f64>) -> Result<()> {
        self.state = state.clone();
        Ok(())
    }
}

fn buffer(index: usize, name: &str, value: DMatrix<f64>) -> StateTensor<f64> {
    StateTensor {
        index,
        name: name.into(),
        value,
    }
}

#[test]
fn an_optimizer_from_outside_the_crate_is_saved_as_custom() {
    let model = models::<f64>().remove(2);
    let custom = Custom {
        lr: 0.25,
        state: OptimizerState {
            step: 7,
            tensors: vec![
                buffer(
                    0,
                    "velocity",
                    DMatrix::from_fn(3, 4, |r, c| (r * 4 + c) as f64),
                ),
                buffer(3, "velocity", DMatrix::from_element(1, 1, -2.5)),
                buffer(3, "Trace_2", DMatrix::from_element(1, 1, 1e-300)),
            ],
        },
    };
    let bytes = io::to_bytes_with_optimizer(&model, &custom).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().as_ref().unwrap();
    assert_eq!(meta.get("optimizer").map(String::as_str), Some("custom"));
    assert_eq!(
        meta.get("optimizer.buffers").map(String::as_str),
        Some("velocity,Trace_2")
    );
    let (_, saved) = io::from_bytes_with_optimizer::<f64>(&bytes).unwrap();
    let saved = saved.unwrap();
    assert_eq!(saved.kind, None);
    assert_eq!(saved.learning_rate, 0.25);
    assert_eq!(state_print(&saved.state), state_print(&custom.state));
    // A custom optimizer takes any state; one of the crate's refuses buffers it does not keep,
    // and is left as it was.
    let mut other = Custom {
        lr: 1.0,
        state: OptimizerState::default(),
    };
    saved.restore(&mut other).unwrap();
    assert_eq!((other.lr, &other.state), (0.25, &custom.state));
    let mut adam = Adam::<f64>::new(0.5).unwrap();
    assert!(saved.restore(&mut adam).is_err());
    assert_eq!(adam.learning_rate(), 0.5);
    assert_eq!(adam.state(), OptimizerState::default());
}

#[test]
fn restore_refuses_the_state_of_another_kind_of_optimizer() {
    let (model, adam) = small_with_adam();
    let bytes = io::to_bytes_with_optimizer(&model, &adam).unwrap();
    let saved: SavedOptimizer<f64> = io::from_bytes_with_optimizer(&bytes).unwrap().1.unwrap();
    let mut adamw = AdamW::<f64>::new(0.3).unwrap();
    let err = saved.restore(&mut adamw).unwrap_err();
    assert!(
        matches!(&err, Error::Format { reason, .. } if reason.contains("Adam") && reason.contains("AdamW")),
        "{err}"
    );
    assert_eq!(adamw.learning_rate(), 0.3);
    assert_eq!(adamw.state(), OptimizerState::default());
    // Sgd's state without momentum holds no buffers, but is still Sgd's.
    let sgd = Sgd::<f64>::new(0.1).unwrap();
    let bytes = io::to_bytes_with_optimizer(&model, &sgd).unwrap();
    let saved = io::from_bytes_with_optimizer::<f64>(&bytes)
        .unwrap()
        .1
        .unwrap();
    assert_eq!((saved.kind, saved.state.tensors.len()), (Some("Sgd"), 0));
    assert!(saved.restore(&mut Adam::<f64>::default()).is_err());
    saved.restore(&mut Sgd::new(1.0).unwrap()).unwrap();
    // The kind is the optimizer's type, also behind a trait object.
    let boxed: Box<dyn Optimizer<f64>> = Box::new(adam.clone());
    let bytes = io::to_bytes_with_optimizer(&model, boxed.as_ref()).unwrap();
    let saved = io::from_bytes_with_optimizer::<f64>(&bytes)
        .unwrap()
        .1
        .unwrap();
    assert_eq!(saved.kind, Some("Adam"));
    let mut target: Box<dyn Optimizer<f64>> = Box::new(Adam::new(0.5).unwrap());
    saved.restore(target.as_mut()).unwrap();
    assert_eq!(state_print(&target.state()), state_print(&adam.state()));
    let mut wrong: Box<dyn Optimizer<f64>> = Box::new(RmsProp::new(0.5).unwrap());
    assert!(saved.restore(wrong.as_mut()).is_err());
}

#[test]
fn a_state_that_does_not_fit_the_model_is_not_saved() {
    let dir = scratch("bad-state");
    let path = dir.join("m.safetensors");
    let model = models::<f64>().remove(2);
    model.save(&path).unwrap();
    let want = fingerprint(&model);
    let state = |tensors: Vec<StateTensor<f64>>| Custom {
        lr: 0.1,
        state: OptimizerState { step: 1, tensors },
    };
    let w = || DMatrix::<f64>::zeros(3, 4);
    let cases: Vec<(&str, Custom)> = vec![
        ("shape", state(vec![buffer(0, "m", DMatrix::zeros(4, 3))])),
        ("index", state(vec![buffer(4, "m", DMatrix::zeros(1, 1))])),
        ("NaN", state(vec![buffer(0, "m", w().map(|_| f64::NAN))])),
        ("name with a dot", state(vec![buffer(0, "m.1", w())])),
        ("name with a comma", state(vec![buffer(0, "m,1", w())])),
        ("empty name", state(vec![buffer(0, "", w())])),
        (
            "twice",
            state(vec![buffer(0, "m", w()), buffer(0, "m", w())]),
        ),
        (
            "rate",
            Custom {
                lr: f64::INFINITY,
                state: OptimizerState::default(),
            },
        ),
    ];
    for (name, opt) in cases {
        let err = model.save_with_optimizer(&opt, &path).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Shape { .. }
                    | Error::Format { .. }
                    | Error::NonFinite { .. }
                    | Error::InvalidParameter { .. }
            ),
            "{name}: {err:?}"
        );
        assert_eq!(fingerprint(&Sequential::<f64>::load(&path).unwrap()), want);
        assert_eq!(
            Sequential::<f64>::load_with_optimizer(&path).unwrap().1,
            None
        );
    }
    assert!(temporaries(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_save_with_optimizer_state_leaves_the_earlier_file_readable() {
    let dir = scratch("failed-opt");
    let path = dir.join("m.safetensors");
    let (model, adam) = small_with_adam();
    model.save_with_optimizer(&adam, &path).unwrap();
    // Through the same atomic writer as `save`: a path that cannot be a file fails cleanly.
    let sub = dir.join("sub");
    fs::create_dir(&sub).unwrap();
    assert!(matches!(
        model.save_with_optimizer(&adam, &sub),
        Err(Error::Io { .. })
    ));
    assert!(matches!(
        model.save_with_optimizer(&adam, dir.join("missing").join("m")),
        Err(Error::Io { .. })
    ));
    let (loaded, saved) = Sequential::<f64>::load_with_optimizer(&path).unwrap();
    assert_eq!(fingerprint(&loaded), fingerprint(&model));
    assert_eq!(
        state_print(&saved.unwrap().state),
        state_print(&adam.state())
    );
    assert!(temporaries(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

// ----- files of format version 1 --------------------------------------------------------------

/// `tests/golden/io_v1_f64.safetensors` and `io_v1_f32.safetensors` were written by `io::to_bytes`
/// of format version 1, before optimizer state existed, for this model:
///
/// ```text
/// Sequential::builder(2).seed(1).dense(2, Relu).dropout(0.25).bias(false).dense(1, Sigmoid)
///     .loss(BinaryCrossEntropy).build()
/// then set_weights(0, [[0.5, -0.25], [1.0, 2.0]]), set_param(0, "bias", [[0.125, -0.75]]),
///      set_weights(2, [[-1.5], [0.375]])
/// ```
///
/// The values below are those set, not read back from the files; all are exact in `f32`. The
/// files were also read with Python's `safetensors.numpy.load_file`, which gives the same arrays.
fn version_1_file_loads<T: Float>(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let (model, saved) = Sequential::<T>::load_with_optimizer(&path).unwrap();
    assert_eq!(saved, None);
    let bits = |v: &[f64]| {
        v.iter()
            .map(|&x| T::of(x).as_f64().to_bits())
            .collect::<Vec<_>>()
    };
    // Column-major, as the matrices hold them.
    assert_eq!(
        param_bits(&model),
        vec![
            bits(&[0.5, 1.0, -0.25, 2.0]),
            bits(&[0.125, -0.75]),
            bits(&[-1.5, 0.375]),
        ]
    );
    let layers: Vec<(String, String)> = fingerprint(&model)
        .layers
        .into_iter()
        .map(|(name, _, _, activation, _, _)| (name, activation))
        .collect();
    let want = [("Dense", "Relu"), ("Dropout", "-"), ("Dense", "Sigmoid")];
    assert_eq!(
        layers,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
    assert_eq!(model.layer_as::<Dropout<T>>(1).unwrap().rate(), 0.25);
    assert_eq!(
        model.loss_fn().name(),
        <BinaryCrossEntropy as Loss<T>>::name(&BinaryCrossEntropy)
    );
    // x = [1, 1]: relu([0.5 + 1 + 0.125, -0.25 + 2 - 0.75]) = [1.625, 1];
    // sigmoid(1.625 * -1.5 + 1 * 0.375) = sigmoid(-2.0625)
    let p = model
        .predict(&DMatrix::from_element(1, 2, T::one()))
        .unwrap()[(0, 0)]
        .as_f64();
    let want = 1.0 / (1.0 + 2.0625f64.exp());
    assert!((p - want).abs() < 1e-6, "{p} vs {want}");
    assert!(Sequential::<T>::load(&path).is_ok());
}

#[test]
fn files_of_format_version_1_still_load() {
    version_1_file_loads::<f64>("io_v1_f64.safetensors");
    version_1_file_loads::<f32>("io_v1_f32.safetensors");
}
