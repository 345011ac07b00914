//! The README's Python reader, run on a saved model: it must print what `predict` returns.
//!
//! It needs a Python with numpy and safetensors. `BACKPROP_PYTHON` names it (CI sets it to a
//! virtual environment with both and the test then fails without them); otherwise `python3` is
//! tried, and the test says that it skipped if that Python lacks either package.

use std::io::Write;
use std::process::{Command, Stdio};

use backprop::prelude::*;
use nalgebra::DMatrix;

/// The README's only `python` code block.
fn readme_python() -> String {
    let readme = include_str!("../README.md");
    let start = readme
        .find("```python\n")
        .expect("a python block in README.md")
        + 10;
    let len = readme[start..].find("```").expect("the block ends");
    readme[start..start + len].to_string()
}

/// Runs `code` with the Python to test against, `None` if none is available (and none is asked
/// for by `BACKPROP_PYTHON`).
fn run_python(code: &str) -> Option<String> {
    let required = std::env::var_os("BACKPROP_PYTHON");
    let python = required.clone().unwrap_or_else(|| "python3".into());
    let ready = Command::new(&python)
        .args(["-c", "import numpy, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            required.is_none(),
            "{python:?} cannot import numpy and safetensors"
        );
        eprintln!("skipped: no python3 with numpy and safetensors (set BACKPROP_PYTHON)");
        return None;
    }
    let mut child = Command::new(&python)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(code.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn the_readmes_python_reader_reproduces_predict() {
    // Every activation the snippet knows, a dropout layer and a layer without bias.
    let mut model = Sequential::<f64>::builder(3)
        .seed(5)
        .dense(6, Relu)
        .dropout(0.25)
        .dense(5, Tanh)
        .bias(false)
        .dense(4, Sigmoid)
        .bias(true)
        .dense(4, Identity)
        .dense(3, Softmax)
        .loss(CategoricalCrossEntropy)
        .build()
        .unwrap();
    // A few steps, so that the biases are no longer zero.
    let x = DMatrix::from_fn(8, 3, |i, j| ((i * 3 + j) % 5) as f64 / 4.0 - 0.5);
    let y = DMatrix::from_fn(8, 1, |i, _| (i % 3) as f64);
    let sgd = &mut Sgd::new(0.5).unwrap();
    model.fit(&x, &y, sgd, &Fit::new(5).full()).unwrap();
    let path = std::env::temp_dir().join(format!(
        "backprop-readme-py-{}.safetensors",
        std::process::id()
    ));
    model.save(&path).unwrap();
    let code = readme_python().replace(
        "\"model.safetensors\"",
        &format!("{:?}", path.display().to_string()),
    ) + "\nimport json\nprint('JSON', json.dumps(layer.tolist()))\n";
    let printed = run_python(&code);
    std::fs::remove_file(&path).unwrap();
    let Some(printed) = printed else { return };
    let json = printed
        .lines()
        .find_map(|l| l.strip_prefix("JSON "))
        .expect("the JSON line");
    let values: Vec<f64> = json
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect();
    // The snippet's input row, as the README writes it.
    let x = DMatrix::from_row_slice(1, 3, &[1.0, 0.0, 1.0]);
    let expected = model.predict(&x).unwrap();
    assert_eq!(values.len(), expected.len(), "{printed}");
    for (got, want) in values.iter().zip(expected.iter()) {
        // NumPy's exp and tanh may round differently from the crate's by an ulp or so.
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{got} vs {want}\n{printed}"
        );
    }
}
