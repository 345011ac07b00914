//! Saving the best epoch's model while training ([`Fit::checkpoint`]); without the
//! `safetensors` feature there is nothing to save and every method does nothing.

use super::Fit;
use crate::{Float, Result, Sequential};

/// The checkpoint of one `fit`: where it goes and the lowest monitored loss saved so far.
pub(crate) struct Checkpoint {
    #[cfg(feature = "safetensors")]
    path: Option<std::path::PathBuf>,
    #[cfg(feature = "safetensors")]
    best: f64,
}

impl Checkpoint {
    /// The checkpoint `fit` asks for, if any, checked before training: the model can be saved
    /// and the directory of the path exists.
    pub(crate) fn new<T: Float>(fit: &Fit, model: &Sequential<T>) -> Result<Self> {
        #[cfg(feature = "safetensors")]
        if let Some(path) = &fit.checkpoint {
            crate::io::to_bytes(model)?;
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            if !dir.is_dir() {
                return Err(crate::Error::Io {
                    path: path.display().to_string(),
                    message: "its directory does not exist".into(),
                });
            }
        }
        #[cfg(not(feature = "safetensors"))]
        let _ = (fit, model);
        Ok(Checkpoint {
            #[cfg(feature = "safetensors")]
            path: fit.checkpoint.clone(),
            #[cfg(feature = "safetensors")]
            best: f64::INFINITY,
        })
    }

    /// Whether `fit` saves checkpoints (so that something looks at the model between epochs).
    pub(crate) fn wanted(fit: &Fit) -> bool {
        #[cfg(feature = "safetensors")]
        return fit.checkpoint.is_some();
        #[cfg(not(feature = "safetensors"))]
        {
            let _ = fit;
            false
        }
    }

    /// After an epoch whose monitored loss is `monitored`: saves `model` if that is the lowest
    /// so far. A failed save leaves the earlier file and the best loss as they were.
    pub(crate) fn epoch<T: Float>(&mut self, model: &Sequential<T>, monitored: f64) -> Result<()> {
        #[cfg(feature = "safetensors")]
        if let Some(path) = &self.path
            && monitored < self.best
        {
            model.save(path)?;
            self.best = monitored;
        }
        #[cfg(not(feature = "safetensors"))]
        let _ = (model, monitored);
        Ok(())
    }
}
