//! [`Summary`]: a model's layers as a table, printable like Keras's `model.summary()`.

use std::fmt;

use super::{Sequential, params::layer_params};
use crate::Float;

/// One row of a [`Summary`]: a layer's name, output width, activation and parameter count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    /// The layer's [`name`](crate::Layer::name), e.g. `Dense`.
    pub name: String,
    /// The layer's output width (its output shape is `rows x output`).
    pub output: usize,
    /// The name of the layer's activation, if it has one.
    pub activation: Option<&'static str>,
    /// The activation's settings as `key=value` pairs joined by `, ` (e.g. `slope=0.2` for a
    /// [`LeakyRelu`](crate::LeakyRelu)), empty for an activation without any.
    pub activation_settings: String,
    /// The number of values in the layer's parameters (weights and bias).
    pub params: usize,
}

/// A model's layers, output shapes, activations and parameter counts, from
/// [`Sequential::summary`]; its [`Display`](fmt::Display) is a table like Keras's
/// `model.summary()`, `None` standing for any number of rows as in Keras.
///
/// ```
/// use backprop::prelude::*;
/// let model = Sequential::<f64>::builder(3).dense(4, Relu).dense(1, Identity).build()?;
/// assert_eq!(model.summary().to_string(), "\
/// Sequential<f64>: 3 inputs, loss SquaredError
/// Layer (type)   Output shape   Activation     Param #
/// ====================================================
/// 0 Dense        (None, 4)      Relu                16
/// 1 Dense        (None, 1)      Identity             5
/// ====================================================
/// Total params: 21
/// ");
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The element type, `f32` or `f64`.
    pub float: &'static str,
    /// The model's input width.
    pub inputs: usize,
    /// The name of the model's loss.
    pub loss: &'static str,
    /// One row per layer, in order.
    pub layers: Vec<LayerSummary>,
}

impl Summary {
    /// The number of parameter values in the whole model.
    pub fn total_params(&self) -> usize {
        self.layers.iter().map(|l| l.params).sum()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = ["Layer (type)", "Output shape", "Activation", "Param #"];
        let rows: Vec<[String; 4]> = (self.layers.iter().enumerate())
            .map(|(i, l)| {
                [
                    format!("{i} {}", l.name),
                    format!("(None, {})", l.output),
                    match (l.activation, l.activation_settings.as_str()) {
                        (None, _) => "-".to_owned(),
                        (Some(name), "") => name.to_owned(),
                        (Some(name), settings) => format!("{name}({settings})"),
                    },
                    l.params.to_string(),
                ]
            })
            .collect();
        // Each column as wide as its widest cell or heading; the text columns at least 12.
        let mut w = [12, 12, 12, head[3].len()];
        for row in &rows {
            for (w, cell) in w.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, c: [&str; 4]| {
            writeln!(
                f,
                "{:<a$}   {:<b$}   {:<c$}   {:>d$}",
                c[0],
                c[1],
                c[2],
                c[3],
                a = w[0],
                b = w[1],
                c = w[2],
                d = w[3]
            )
        };
        let rule = "=".repeat(w.iter().sum::<usize>() + 9);
        let plural = if self.inputs == 1 { "" } else { "s" };
        writeln!(
            f,
            "Sequential<{}>: {} input{plural}, loss {}",
            self.float, self.inputs, self.loss
        )?;
        line(f, head)?;
        writeln!(f, "{rule}")?;
        for row in &rows {
            line(f, [&row[0], &row[1], &row[2], &row[3]])?;
        }
        writeln!(f, "{rule}")?;
        writeln!(f, "Total params: {}", self.total_params())
    }
}

impl<T: Float> Sequential<T> {
    /// The model's layers as a table: name, output shape, activation and parameter count per
    /// layer, and the total; print it for Keras's `model.summary()`.
    ///
    /// ```
    /// use backprop::prelude::*;
    /// let model = Sequential::<f64>::builder(3).dense(4, Relu).dropout(0.5).dense(1, Sigmoid)
    ///     .loss(BinaryCrossEntropy).build()?;
    /// let summary = model.summary();
    /// assert_eq!(summary.total_params(), (3 * 4 + 4) + (4 * 1 + 1));
    /// assert_eq!(summary.layers[2].activation, Some("Sigmoid"));
    /// let text = summary.to_string();
    /// assert!(text.contains("1 Dropout") && text.contains("Total params: 21"));
    ///
    /// // An activation's settings show beside its name.
    /// let model = Sequential::<f32>::builder(2).dense(3, LeakyRelu::new(0.2)?).dense(1, Gelu::Tanh)
    ///     .build()?;
    /// let text = model.summary().to_string();
    /// assert!(text.contains("LeakyRelu(slope=0.2)") && text.contains("Gelu(approximate=tanh)"));
    /// # Ok::<(), backprop::Error>(())
    /// ```
    pub fn summary(&self) -> Summary {
        Summary {
            float: T::NAME,
            inputs: self.inputs,
            loss: self.loss.name(),
            layers: (self.layers.iter().zip(&self.param_counts))
                .map(|(layer, &count)| LayerSummary {
                    name: layer.name().to_owned(),
                    output: layer.output_size(),
                    activation: layer.activation().map(|a| a.name()),
                    activation_settings: (layer.activation().and_then(|a| a.config()))
                        .map(|c| {
                            let pairs: Vec<String> =
                                c.iter().map(|(k, v)| format!("{k}={v}")).collect();
                            pairs.join(", ")
                        })
                        .unwrap_or_default(),
                    params: layer_params(layer.as_ref(), count)
                        .map(|p| p.value.len())
                        .sum(),
                })
                .collect(),
        }
    }
}
