//! Draws the lecture notebook's activation functions and their derivatives to an SVG file.
//!
//! The notebook (seed 004) plots the perceptron's step ("Activation Function of Perceptron"),
//! the sigmoid ("Output of Sigmoid Neuron"), tanh and ReLU over `z` from -10 to 10. This example
//! draws the same four, one panel each, with each function's derivative beside it; every value
//! comes from the crate's [`Activation`] impls (`forward` for `f(z)`, `backward` of a delta of 1
//! for `f'(z)`), the step from the small `Step` activation of `lecture_common`.
//!
//! The file goes to the path given on the command line, or `target/activation_plots.svg`. It is
//! written to a temporary file beside it and renamed into place, so an existing file is replaced
//! whole or not at all; errors are reported and the program exits with status 1.
//!
//! ```text
//! cargo run --example activation_plots [-- path/to/plot.svg]
//! ```

mod lecture_common;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use backprop::prelude::*;
use lecture_common::{linspace, notebook_activations, values_and_slopes};
use plotters::prelude::*;

/// Where the plot goes when no path is given.
const DEFAULT_PATH: &str = "target/activation_plots.svg";
/// Size of the drawing, in pixels.
const SIZE: (u32, u32) = (1000, 800);

/// A panel's title and the range of its vertical axis.
fn panel(name: &str) -> (&'static str, std::ops::Range<f64>) {
    match name {
        "step" => ("Activation Function of Perceptron (step)", -0.1..1.1),
        "sigmoid" => ("Output of Sigmoid Neuron", -0.1..1.1),
        "tanh" => ("tanh", -1.1..1.1),
        _ => ("ReLU", -0.5..10.5),
    }
}

/// Draws the four panels into an SVG document.
fn draw(activations: &[(&'static str, Box<dyn Activation<f64>>)]) -> Result<String, String> {
    let z = linspace(-10.0, 10.0, 1001);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let panels = root.split_evenly((2, 2));
        for ((name, f), area) in activations.iter().zip(panels.iter()) {
            let (title, y_range) = panel(name);
            let (value, slope) = values_and_slopes(f.as_ref(), &z);
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 20))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(40)
                .build_cartesian_2d(-10.0..10.0, y_range)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("Z")
                .x_label_formatter(&|x| format!("{x:.0}"))
                // A tick a rounding error below 0 would read "-0.0".
                .y_label_formatter(&|y| format!("{:.1}", if y.abs() < 1e-9 { 0.0 } else { *y }))
                .draw()
                .map_err(|e| e.to_string())?;
            let points = |ys: &[f64]| {
                z.iter()
                    .copied()
                    .zip(ys.iter().copied())
                    .collect::<Vec<_>>()
            };
            chart
                .draw_series(LineSeries::new(points(&value), BLUE.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(format!("{name}(z)"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
            let derivative = if *name == "step" {
                "step'(z) = 0 (none at z = 0)".to_string()
            } else {
                format!("{name}'(z)")
            };
            chart
                .draw_series(LineSeries::new(points(&slope), RED.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(derivative)
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Writes `contents` to a temporary file next to `path`, then renames it to `path`.
fn write_atomically(path: &Path, contents: &str) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // `.1234.activation_plots.svg.tmp`: hidden, unique to this process, and ignored by git.
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        std::process::id(),
        name.to_string_lossy()
    ));
    let written = fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    });
    let result = written.and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn run() -> Result<PathBuf, String> {
    let mut args = std::env::args_os().skip(1);
    let path = match (args.next(), args.next()) {
        (Some(p), None) => PathBuf::from(p),
        (None, _) => {
            let path = PathBuf::from(DEFAULT_PATH);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            path
        }
        (Some(_), Some(_)) => return Err("usage: activation_plots [output.svg]".into()),
    };
    let svg = draw(&notebook_activations()).map_err(|e| format!("drawing failed: {e}"))?;
    write_atomically(&path, &svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn main() -> ExitCode {
    match run() {
        Ok(path) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("activation_plots: {message}");
            ExitCode::FAILURE
        }
    }
}
