//! Saving and loading models with the new built-in activations, and with layers and activations
//! of one's own registered by name.

use backprop::activation::Config;
use backprop::io::{self, Registry, SavedTensors};
use backprop::layer::{Param, ParamMut};
use backprop::prelude::*;
use nalgebra::DMatrix;
use safetensors::tensor::SafeTensors;

fn bits(m: &DMatrix<f64>) -> Vec<u64> {
    m.iter().map(|v| v.to_bits()).collect()
}

fn x() -> DMatrix<f64> {
    DMatrix::from_row_slice(3, 3, &[0.5, -1.5, 2.0, -0.25, 0.75, -3.0, 1.0, 1.0, -1.0])
}

/// The metadata of a saved model.
fn metadata(bytes: &[u8]) -> std::collections::HashMap<String, String> {
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    header.metadata().clone().unwrap()
}

#[test]
fn the_new_activations_save_and_load_with_their_settings() {
    let model = Sequential::<f64>::builder(3)
        .seed(5)
        .dense(4, LeakyRelu::new(0.2).unwrap())
        .dense(4, Elu::new(0.7).unwrap())
        .dense(4, Gelu::Tanh)
        .dense(4, Gelu::Exact)
        .dense(4, Silu)
        .dense(1, Softplus)
        .build()
        .unwrap();
    let bytes = io::to_bytes(&model).unwrap();
    let meta = metadata(&bytes);
    let expect = [
        ("layer.0.activation", "LeakyRelu"),
        ("layer.0.activation.slope", "0.2"),
        ("layer.1.activation", "Elu"),
        ("layer.1.activation.alpha", "0.7"),
        ("layer.2.activation", "Gelu"),
        ("layer.2.activation.approximate", "tanh"),
        ("layer.3.activation.approximate", "none"),
        ("layer.4.activation", "Silu"),
        ("layer.5.activation", "Softplus"),
    ];
    for (k, v) in expect {
        assert_eq!(meta.get(k).map(String::as_str), Some(v), "{k}");
    }
    let loaded = io::from_bytes::<f64>(&bytes).unwrap();
    assert_eq!(
        bits(&model.predict(&x()).unwrap()),
        bits(&loaded.predict(&x()).unwrap())
    );
    let summary = loaded.summary().to_string();
    for name in ["LeakyRelu", "Elu", "Gelu", "Silu", "Softplus"] {
        assert!(summary.contains(name), "{summary}");
    }
    // The settings are read back, not defaulted.
    let layer = loaded.layer_as::<Dense<f64>>(0).unwrap();
    let config = layer.activation().unwrap().config().unwrap();
    assert_eq!(config.parse::<f64>("slope").unwrap(), 0.2);
}

/// `f(z) = z^3 / scale`, an activation of one's own (derivative from its input).
#[derive(Debug, Clone)]
struct Cube {
    scale: f64,
}

impl Activation<f64> for Cube {
    fn name(&self) -> &'static str {
        "Cube"
    }
    fn forward(&self, mut z: MatrixViewMut<'_, f64>) {
        z.apply(|x| *x = *x * *x * *x / self.scale);
    }
    fn backward(&self, z: MatrixView<'_, f64>, mut delta: MatrixViewMut<'_, f64>) {
        delta.zip_apply(&z, |d, z| *d *= 3.0 * z * z / self.scale);
    }
    fn needs_input(&self) -> bool {
        true
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new().with("scale", self.scale))
    }
}

/// Multiplies each input column by its own learned factor: a layer of one's own.
#[derive(Debug, Clone)]
struct Scale {
    s: DMatrix<f64>,
    g: DMatrix<f64>,
    label: String,
}

impl Layer<f64> for Scale {
    fn name(&self) -> &str {
        "Scale"
    }
    fn input_size(&self) -> usize {
        self.s.ncols()
    }
    fn output_size(&self) -> usize {
        self.s.ncols()
    }
    fn forward(&self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
        for r in 0..input.nrows() {
            for c in 0..input.ncols() {
                output[(r, c)] = input[(r, c)] * self.s[(0, c)];
            }
        }
    }
    fn backward(
        &mut self,
        input: MatrixView<'_, f64>,
        delta: MatrixView<'_, f64>,
        grad_input: Option<MatrixViewMut<'_, f64>>,
    ) {
        for c in 0..input.ncols() {
            self.g[(0, c)] = input.column(c).dot(&delta.column(c));
        }
        if let Some(mut g) = grad_input {
            for r in 0..delta.nrows() {
                for c in 0..delta.ncols() {
                    g[(r, c)] = delta[(r, c)] * self.s[(0, c)];
                }
            }
        }
    }
    fn param(&self, k: usize) -> Option<Param<'_, f64>> {
        (k == 0).then_some(Param {
            name: "factors",
            value: &self.s,
            grad: &self.g,
        })
    }
    fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, f64>> {
        (k == 0).then_some(ParamMut {
            name: "factors",
            value: &mut self.s,
            grad: &mut self.g,
        })
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new().with("label", &self.label))
    }
}

fn scale_from(config: &Config, tensors: &mut SavedTensors<f64>) -> Result<Scale> {
    let s = tensors.take("factors")?;
    let g = DMatrix::zeros(1, s.ncols());
    let label = config.get("label")?.to_string();
    Ok(Scale { s, g, label })
}

fn own_model() -> Sequential<f64> {
    let scale = Scale {
        s: DMatrix::from_row_slice(1, 3, &[0.5, -2.0, 1.25]),
        g: DMatrix::zeros(1, 3),
        label: "input scaling".into(),
    };
    let mut model = Sequential::builder(3)
        .seed(2)
        .add(scale)
        .dense(4, Cube { scale: 3.0 })
        .dense(1, Identity)
        .build()
        .unwrap();
    // A few steps, so that the saved factors and weights are not the initial ones.
    let y = DMatrix::from_column_slice(3, 1, &[0.5, -0.5, 1.0]);
    let mut sgd = Sgd::new(0.01).unwrap();
    for _ in 0..3 {
        model.step(&x(), &y, &mut sgd).unwrap();
    }
    model
}

fn registry() -> Registry<f64> {
    Registry::new()
        .activation("Cube", |c| {
            Ok(Cube {
                scale: c.parse("scale")?,
            })
        })
        .layer("Scale", scale_from)
}

#[test]
fn a_model_of_ones_own_parts_round_trips_through_a_registry() {
    let model = own_model();
    let dir = std::env::temp_dir().join(format!("backprop-registry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("own.safetensors");
    model.save(&path).unwrap();
    let loaded = Sequential::<f64>::load_with(&path, &registry()).unwrap();
    assert_eq!(
        bits(&model.predict(&x()).unwrap()),
        bits(&loaded.predict(&x()).unwrap())
    );
    let scale = loaded.layer_as::<Scale>(0).unwrap();
    assert_eq!(scale.label, "input scaling");
    assert_eq!(bits(&scale.s), bits(&model.layer_as::<Scale>(0).unwrap().s));
    let meta = metadata(&std::fs::read(&path).unwrap());
    assert_eq!(meta["layer.0.kind"], "Scale");
    assert_eq!(meta["layer.0.config.label"], "input scaling");
    assert_eq!(meta["layer.1.activation.scale"], "3");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_registration_is_an_error_naming_it() {
    let bytes = io::to_bytes(&own_model()).unwrap();
    // No registry at all: the first layer of one's own is named.
    match io::from_bytes::<f64>(&bytes) {
        Err(Error::NotRegistered {
            what, name, layer, ..
        }) => {
            assert_eq!((what, name.as_str(), layer), ("layer", "Scale", 0));
        }
        other => panic!("{other:?}"),
    }
    // The layer registered, the activation not.
    let only_layer = Registry::new().layer("Scale", scale_from);
    match io::from_bytes_with::<f64>(&bytes, &only_layer) {
        Err(Error::NotRegistered {
            what, name, layer, ..
        }) => {
            assert_eq!((what, name.as_str(), layer), ("activation", "Cube", 1));
        }
        other => panic!("{other:?}"),
    }
    // A registered function that leaves a tensor untaken, or fails, refuses the file.
    let careless = Registry::new()
        .activation("Cube", |c| {
            Ok(Cube {
                scale: c.parse("scale")?,
            })
        })
        .layer("Scale", |_, t| {
            let n = t.names().count();
            Ok(Scale {
                s: DMatrix::from_element(1, 3, 1.0),
                g: DMatrix::zeros(1, 3),
                label: n.to_string(),
            })
        });
    assert!(matches!(
        io::from_bytes_with::<f64>(&bytes, &careless),
        Err(Error::Format { .. })
    ));
    let failing = Registry::new()
        .activation("Cube", |c| {
            Ok(Cube {
                scale: c.parse("no_such_key")?,
            })
        })
        .layer("Scale", scale_from);
    assert!(matches!(
        io::from_bytes_with::<f64>(&bytes, &failing),
        Err(Error::Format { .. })
    ));
}

#[test]
fn parts_that_cannot_be_described_are_refused_when_saved() {
    // Claims the name of a built-in activation.
    let fake_relu = Described {
        name: "Relu",
        config: Config::new(),
    };
    let model = Sequential::<f64>::builder(2)
        .dense(1, fake_relu)
        .build()
        .unwrap();
    let err = io::to_bytes(&model).unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { what } if what.contains("Relu")),
        "{err}"
    );
    // A setting whose key the format cannot hold.
    let model = Sequential::<f64>::builder(2)
        .dense(1, Cube { scale: 1.0 })
        .build()
        .unwrap();
    assert!(io::to_bytes(&model).is_ok());
    let bad_key = Described {
        name: "BadKey",
        config: Config::new().with("a.b", 1),
    };
    let model = Sequential::<f64>::builder(2)
        .dense(1, bad_key)
        .build()
        .unwrap();
    let err = io::to_bytes(&model).unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { what } if what.contains("a.b")),
        "{err}"
    );
}

#[test]
fn a_layer_of_ones_own_cannot_hold_an_activation_that_needs_its_input() {
    #[derive(Debug, Clone)]
    struct Wrap(usize);
    impl Layer<f64> for Wrap {
        fn name(&self) -> &str {
            "Wrap"
        }
        fn input_size(&self) -> usize {
            self.0
        }
        fn output_size(&self) -> usize {
            self.0
        }
        fn activation(&self) -> Option<&dyn Activation<f64>> {
            Some(&Silu)
        }
        fn forward(&self, i: MatrixView<'_, f64>, mut o: MatrixViewMut<'_, f64>) {
            o.copy_from(&i);
        }
        fn backward(
            &mut self,
            _i: MatrixView<'_, f64>,
            _d: MatrixView<'_, f64>,
            _g: Option<MatrixViewMut<'_, f64>>,
        ) {
        }
    }
    let err = Sequential::<f64>::builder(2)
        .add(Wrap(2))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Build { layer: Some(0), .. }), "{err}");
}

/// `bytes` with the tensor `layer.0.factors` replaced by `data` of `shape` (or removed for
/// `None`), and without its checksum, so that the change itself is what the load meets.
fn with_factors(bytes: &[u8], replacement: Option<(Vec<usize>, Vec<u8>)>) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let file = SafeTensors::deserialize(bytes).unwrap();
    let mut meta = metadata(bytes);
    meta.remove("checksum");
    let mut views: Vec<(String, TensorView<'_>)> = file
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != "layer.0.factors")
        .collect();
    if let Some((shape, data)) = &replacement {
        let view = TensorView::new(Dtype::F64, shape.clone(), data).unwrap();
        views.push(("layer.0.factors".into(), view));
    }
    safetensors::serialize(views, Some(meta)).unwrap()
}

#[test]
fn a_registered_layers_tensors_are_checked_before_it_is_built() {
    let bytes = io::to_bytes(&own_model()).unwrap();
    let values = |v: [f64; 3]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let cases = [
        ("one-dimensional", Some((vec![3], values([1.0, 2.0, 3.0])))),
        ("NaN", Some((vec![1, 3], values([1.0, f64::NAN, 3.0])))),
        ("missing", None),
    ];
    for (name, replacement) in cases {
        let bad = with_factors(&bytes, replacement);
        match io::from_bytes_with::<f64>(&bad, &registry()) {
            Err(Error::Format { reason, .. }) => {
                assert!(reason.contains("factors"), "{name}: {reason}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // A well-formed replacement loads: the cases above fail for their change, not the rewrite.
    let same = with_factors(&bytes, Some((vec![1, 3], values([0.5, -2.0, 1.25]))));
    assert!(io::from_bytes_with::<f64>(&same, &registry()).is_ok());
}

#[test]
fn a_file_with_very_many_settings_is_read_in_linear_time() {
    // 200 000 settings for one activation: a load that compared each with the others would take
    // minutes; this one refuses the file (LeakyRelu has one setting) in well under a second.
    let model = Sequential::<f64>::builder(2)
        .dense(1, LeakyRelu::default())
        .build()
        .unwrap();
    let bytes = io::to_bytes(&model).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut meta = metadata(&bytes);
    meta.remove("checksum");
    for k in 0..200_000 {
        meta.insert(format!("layer.0.activation.k{k}"), "1".into());
    }
    let bad = safetensors::serialize(file.tensors(), Some(meta)).unwrap();
    let start = std::time::Instant::now();
    assert!(matches!(
        io::from_bytes::<f64>(&bad),
        Err(Error::Format { .. })
    ));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// An activation that does nothing, with a given name and settings.
#[derive(Debug, Clone)]
struct Described {
    name: &'static str,
    config: Config,
}

impl Activation<f64> for Described {
    fn name(&self) -> &'static str {
        self.name
    }
    fn forward(&self, _z: MatrixViewMut<'_, f64>) {}
    fn backward(&self, _a: MatrixView<'_, f64>, _d: MatrixViewMut<'_, f64>) {}
    fn config(&self) -> Option<Config> {
        Some(self.config.clone())
    }
}

#[test]
fn settings_read_from_a_file_come_ordered_by_key() {
    // Twelve keys set in reverse: a file's own order is sorted by chance once in 12! loads.
    let config = (0..12)
        .rev()
        .fold(Config::new(), |c, k| c.with(&format!("k{k:02}"), k));
    let model = Sequential::<f64>::builder(2)
        .dense(
            1,
            Described {
                name: "Ordered",
                config,
            },
        )
        .build()
        .unwrap();
    // The registered function keeps the order in which the settings arrived.
    let registry = Registry::new().activation("Ordered", |c| {
        Ok(Described {
            name: "Ordered",
            config: Config::new().with(
                "arrived",
                c.iter().map(|(k, _)| k).collect::<Vec<_>>().join(","),
            ),
        })
    });
    let loaded = io::from_bytes_with(&io::to_bytes(&model).unwrap(), &registry).unwrap();
    let f = loaded
        .layer_as::<Dense<f64>>(0)
        .unwrap()
        .activation()
        .unwrap();
    let sorted: Vec<String> = (0..12).map(|k| format!("k{k:02}")).collect();
    assert_eq!(
        f.config().unwrap().get("arrived").unwrap(),
        sorted.join(",")
    );
}
