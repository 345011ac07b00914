//! A layer and an activation of one's own: checked against finite differences on random inputs,
//! trained inside a model, saved and loaded back.
//!
//! ```text
//! cargo run --release --example custom_layer
//! ```
//!
//! `Affine` scales and shifts each column (`y = x * scale + shift`) and `ScaledTanh` is LeCun's
//! `1.7159 * tanh(2/3 * z)`, its derivative taken from its output. Both go through
//! `gradcheck` on 64 random cases drawn with the `strategies` of the `proptest` feature; then a
//! model that uses them learns XOR, is saved, and loads back through an `io::Registry` that says
//! how to build them by name.

use backprop::activation::Config;
use backprop::gradcheck::{self, GradCheck};
use backprop::io::Registry;
use backprop::layer::{Param, ParamMut};
use backprop::prelude::*;
use backprop::strategies;
use nalgebra::DMatrix;
use proptest::test_runner::{Config as Cases, TestCaseError, TestRunner};

/// `y = x * scale + shift`, one scale and one shift per column.
#[derive(Debug, Clone)]
struct Affine {
    scale: Matrix<f64>,
    shift: Matrix<f64>,
    d_scale: Matrix<f64>,
    d_shift: Matrix<f64>,
}

impl Affine {
    fn new(scale: Matrix<f64>, shift: Matrix<f64>) -> Self {
        let (d_scale, d_shift) = (scale.map(|_| 0.0), shift.map(|_| 0.0));
        Affine {
            scale,
            shift,
            d_scale,
            d_shift,
        }
    }
}

impl Layer<f64> for Affine {
    fn name(&self) -> &str {
        "Affine"
    }
    fn input_size(&self) -> usize {
        self.scale.ncols()
    }
    fn output_size(&self) -> usize {
        self.scale.ncols()
    }
    fn forward(&self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
        for c in 0..input.ncols() {
            let (scale, shift) = (self.scale[c], self.shift[c]);
            output
                .column_mut(c)
                .zip_apply(&input.column(c), |y, x| *y = x * scale + shift);
        }
    }
    fn backward(
        &mut self,
        input: MatrixView<'_, f64>,
        delta: MatrixView<'_, f64>,
        grad_input: Option<MatrixViewMut<'_, f64>>,
    ) {
        for c in 0..input.ncols() {
            self.d_scale[c] = input.column(c).dot(&delta.column(c));
            self.d_shift[c] = delta.column(c).sum();
        }
        if let Some(mut g) = grad_input {
            for c in 0..delta.ncols() {
                g.column_mut(c)
                    .copy_from(&(delta.column(c) * self.scale[c]));
            }
        }
    }
    fn param(&self, k: usize) -> Option<Param<'_, f64>> {
        let (name, value, grad) = match k {
            0 => ("scale", &self.scale, &self.d_scale),
            1 => ("shift", &self.shift, &self.d_shift),
            _ => return None,
        };
        Some(Param { name, value, grad })
    }
    fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, f64>> {
        let (name, value, grad) = match k {
            0 => ("scale", &mut self.scale, &mut self.d_scale),
            1 => ("shift", &mut self.shift, &mut self.d_shift),
            _ => return None,
        };
        Some(ParamMut { name, value, grad })
    }
    // Saveable: no settings beyond its parameters, which are saved as tensors.
    fn config(&self) -> Option<Config> {
        Some(Config::new())
    }
}

/// `a * tanh(b * z)`; with `a = 1.7159`, `b = 2/3` (LeCun), `f(±1) = ±1`.
#[derive(Debug, Clone)]
struct ScaledTanh {
    a: f64,
    b: f64,
}

impl Activation<f64> for ScaledTanh {
    fn name(&self) -> &'static str {
        "ScaledTanh"
    }
    fn forward(&self, mut z: MatrixViewMut<'_, f64>) {
        z.apply(|z| *z = self.a * (self.b * *z).tanh());
    }
    // f'(z) = a * b * (1 - tanh^2) = b * (a - y^2 / a), from the output y.
    fn backward(&self, output: MatrixView<'_, f64>, mut delta: MatrixViewMut<'_, f64>) {
        delta.zip_apply(&output, |d, y| *d *= self.b * (self.a - y * y / self.a));
    }
    fn config(&self) -> Option<Config> {
        Some(Config::new().with("a", self.a).with("b", self.b))
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let lecun = ScaledTanh {
        a: 1.7159,
        b: 2.0 / 3.0,
    };

    // 1. Both against finite differences, on random parameters, inputs and upstream deltas.
    let width = 3;
    let cases = (
        strategies::matrix(1, width, -2.0..2.0)?,
        strategies::matrix(1, width, -1.0..1.0)?,
        strategies::matrix(4, width, -3.0..3.0)?,
        strategies::matrix(4, width, -1.0..1.0)?,
    );
    let check = GradCheck::for_type::<f64>();
    let worst = std::cell::Cell::new(0.0f64);
    let mut runner = TestRunner::new(Cases {
        cases: 64,
        ..Cases::default()
    });
    runner.run(&cases, |(scale, shift, input, upstream)| {
        let fail = |e: Error| TestCaseError::fail(e.to_string());
        let mut layer = Affine::new(scale, shift);
        let layer_report = check.layer(&mut layer, &input, &upstream).map_err(fail)?;
        let act_report = check.activation(&lecun, &input, &upstream).map_err(fail)?;
        for report in [&layer_report, &act_report] {
            if report.max_rel() > 1e-6 {
                return Err(TestCaseError::fail(report.to_string()));
            }
            worst.set(worst.get().max(report.max_rel()));
        }
        Ok(())
    })?;
    println!(
        "gradcheck: Affine and ScaledTanh agree with finite differences on 64 random cases (worst relative error {:.1e})",
        worst.get()
    );

    // 2. In a model: XOR through ScaledTanh hidden units and an Affine output.
    let x = DMatrix::from_row_slice(4, 2, &[0., 0., 0., 1., 1., 0., 1., 1.]);
    let y = DMatrix::from_column_slice(4, 1, &[0., 1., 1., 0.]);
    let mut model = Sequential::<f64>::builder(2)
        .seed(3)
        .dense(4, lecun.clone())
        .dense(1, Identity)
        .add(Affine::new(
            DMatrix::from_element(1, 1, 1.0),
            DMatrix::zeros(1, 1),
        ))
        .build()?;
    let report = gradcheck::check_model(&mut model, &x, &y)?;
    println!(
        "gradcheck of the whole model: worst relative error {:.1e}",
        report.max_rel()
    );
    model.fit(&x, &y, &mut Adam::new(0.05)?, &Fit::new(500).full())?;
    let loss = model.evaluate(&x, &y)?;
    println!(
        "XOR after 500 epochs: loss {loss:.2e}, predictions {:.3?}",
        model.predict(&x)?.as_slice()
    );

    // 3. Saved, and loaded through a registry that knows both names.
    let path = std::env::temp_dir().join(format!(
        "backprop-custom-{}.safetensors",
        std::process::id()
    ));
    model.save(&path)?;
    let registry = Registry::new()
        .activation("ScaledTanh", |c| {
            Ok(ScaledTanh {
                a: c.parse("a")?,
                b: c.parse("b")?,
            })
        })
        .layer("Affine", |_, tensors| {
            Ok(Affine::new(tensors.take("scale")?, tensors.take("shift")?))
        });
    let missing = Sequential::<f64>::load(&path).map(drop).unwrap_err();
    let loaded = Sequential::<f64>::load_with(&path, &registry)?;
    std::fs::remove_file(&path)?;
    println!("loaded without the registry: {missing}");
    println!(
        "loaded with it: the same predictions, bit for bit: {}",
        loaded.predict(&x)? == model.predict(&x)?
    );
    Ok(())
}
