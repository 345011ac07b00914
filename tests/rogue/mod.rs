//! User types that break their contracts, shared by the misuse and no-panic tests.

#![allow(dead_code)] // each test file uses some of them

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use backprop::layer::{Param, ParamMut};
use backprop::prelude::*;
use nalgebra::DMatrix;

/// Gradient descent that replaces the last bias it sees with a long row after `after` updates.
#[derive(Debug)]
pub struct Resizing {
    /// Updates so far.
    pub updates: usize,
    /// Updates before it starts resizing.
    pub after: usize,
}

impl Optimizer<f64> for Resizing {
    fn update(&mut self, _index: usize, value: &mut DMatrix<f64>, grad: &DMatrix<f64>) {
        self.updates += 1;
        if self.updates > self.after && value.nrows() == 1 {
            *value = DMatrix::from_element(1, 4096, 1.0);
        } else {
            *value -= grad * 0.1;
        }
    }
    fn learning_rate(&self) -> f64 {
        0.1
    }
    fn set_learning_rate(&mut self, _lr: f64) -> Result<()> {
        Ok(())
    }
}

/// What a [`Rogue`] layer does wrong.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Nothing: a learned scale.
    None,
    /// Its gradient has another shape than its parameter from the start.
    GradShape,
    /// Its backward pass stores a gradient of another shape.
    GradShapeLater,
    /// `param(k)` and `param_mut(k)` never return `None`.
    Endless,
    /// Its output width grows once `grow` is set.
    Grows,
    /// Its outputs are NaN.
    Nan,
}

#[derive(Debug, Clone)]
pub struct Rogue {
    width: usize,
    fault: Fault,
    s: DMatrix<f64>,
    grad: DMatrix<f64>,
    /// Shared by clones: set it to make the layer report a larger output width.
    pub grow: Arc<AtomicBool>,
}

impl Rogue {
    pub fn new(width: usize, fault: Fault) -> Self {
        let grad = match fault {
            Fault::GradShape => DMatrix::zeros(2, 1),
            _ => DMatrix::zeros(1, 1),
        };
        Rogue {
            width,
            fault,
            s: DMatrix::from_element(1, 1, 0.5),
            grad,
            grow: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Layer<f64> for Rogue {
    fn name(&self) -> &str {
        "Rogue"
    }
    fn input_size(&self) -> usize {
        self.width
    }
    fn output_size(&self) -> usize {
        match self.grow.load(Ordering::Relaxed) {
            true => self.width + 4096,
            false => self.width,
        }
    }
    fn forward(&self, input: MatrixView<'_, f64>, mut output: MatrixViewMut<'_, f64>) {
        // Writes only what it is given, whatever it believes its width to be.
        let s = match self.fault {
            Fault::Nan => f64::NAN,
            _ => self.s.get(0).copied().unwrap_or(1.0),
        };
        for c in 0..output.ncols() {
            for r in 0..output.nrows() {
                output[(r, c)] = input[(r, c % input.ncols())] * s;
            }
        }
    }
    fn backward(
        &mut self,
        input: MatrixView<'_, f64>,
        delta: MatrixView<'_, f64>,
        grad_input: Option<MatrixViewMut<'_, f64>>,
    ) {
        if self.fault == Fault::GradShapeLater {
            self.grad = DMatrix::zeros(3, 2);
        } else if let Some(g) = self.grad.get_mut(0) {
            // d(sum(delta * input * s)) / ds, for the widths the model hands over.
            *g = if input.shape() == delta.shape() {
                input.dot(&delta)
            } else {
                0.0
            };
        }
        if let Some(mut g) = grad_input {
            let s = self.s.get(0).copied().unwrap_or(1.0);
            for c in 0..g.ncols() {
                for r in 0..g.nrows() {
                    g[(r, c)] = delta[(r, c % delta.ncols())] * s;
                }
            }
        }
    }
    fn param(&self, k: usize) -> Option<Param<'_, f64>> {
        (k == 0 || self.fault == Fault::Endless).then_some(Param {
            name: "s",
            value: &self.s,
            grad: &self.grad,
        })
    }
    fn param_mut(&mut self, k: usize) -> Option<ParamMut<'_, f64>> {
        (k == 0 || self.fault == Fault::Endless).then_some(ParamMut {
            name: "s",
            value: &mut self.s,
            grad: &mut self.grad,
        })
    }
}

/// An optimizer that writes NaN into every parameter it updates.
#[derive(Debug)]
pub struct Poisoning;

impl Optimizer<f64> for Poisoning {
    fn update(&mut self, _index: usize, value: &mut DMatrix<f64>, _grad: &DMatrix<f64>) {
        value.fill(f64::NAN);
    }
    fn learning_rate(&self) -> f64 {
        0.1
    }
    fn set_learning_rate(&mut self, _lr: f64) -> Result<()> {
        Ok(())
    }
}
