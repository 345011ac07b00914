//! Saving and loading: bit-for-bit round trips, every truncation, byte flips, mismatched and
//! newer files, and saves that fail without harming the earlier file.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use backprop::io::{self, FORMAT_VERSION};
use backprop::layer::{Dropout, Param, ParamMut};
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
    for (k, mut model) in models::<T>().into_iter().enumerate() {
        let path = dir.join(format!("model{k}.safetensors"));
        model.save(&path).unwrap();
        let mut loaded = Sequential::<T>::load(&path).unwrap();
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

/// Rewrites a saved file with `edit` applied to its metadata and tensors.
fn rewrite<'a>(
    bytes: &'a [u8],
    edit: impl FnOnce(&mut HashMap<String, String>, &mut Vec<(String, TensorView<'a>)>),
) -> Vec<u8> {
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
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
        text.contains("format version 2") && text.contains("upgrade"),
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
    let Ok(mut loaded) = io::from_bytes::<f64>(&flipped) else {
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
        if let Ok(mut loaded) = io::from_bytes::<f64>(&flipped) {
            assert_eq!(fingerprint(&loaded).layers, fingerprint(&model).layers);
            assert!(loaded.predict(&data::<f64>(3, 2, 3)).is_ok());
        }
    }
}

/// A layer the file format does not know.
#[derive(Debug)]
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
    fn forward(&mut self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
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
#[derive(Debug)]
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
#[derive(Debug)]
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
