//! `backprop`: typed dense neural networks on nalgebra.
#![deny(missing_docs)]

pub mod data;
pub mod error;
pub mod float;

pub use error::{Error, Result};
pub use float::Float;
