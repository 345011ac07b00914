//! [`LoadOptions`]: the limits a load puts on a file, so that an absurd or hostile file is refused
//! with a typed error before it costs more than a small multiple of its size.

use std::path::Path;

use super::decode::decode;
use super::open::read_regular;
use super::{BYTES, Registry, SavedOptimizer, format_error, io_error};
use crate::{Float, Result, Sequential};

/// Limits on the files a load accepts; [`load`](super::load) and the other functions of
/// [`crate::io`] use [`LoadOptions::default`].
///
/// A load reads the whole file, parses its header once and builds the model, which keeps its
/// memory within a small multiple of the file's length; these limits bound that length, and the
/// number of layers a file may declare (a dropout layer costs about 2.5 KB in memory for a few
/// dozen bytes of header, so an unbounded count would not keep that promise). A file beyond a
/// limit is refused with [`Error::Format`](crate::Error::Format) naming the limit, before it is
/// read (for its length), parsed (for its header's) or built (for its layers).
///
/// | limit | default | what |
/// |---|---|---|
/// | [`max_file_bytes`](Self::max_file_bytes) | 2 GiB | the whole file |
/// | [`max_header_bytes`](Self::max_header_bytes) | 16 MiB | its JSON header (architecture and tensor list) |
/// | [`max_layers`](Self::max_layers) | 1024 | the number of layers it declares |
///
/// ```
/// use backprop::io::LoadOptions;
/// use backprop::prelude::*;
///
/// let mut builder = Sequential::<f32>::builder(2);
/// for _ in 0..3 {
///     builder = builder.dense(2, Relu);
/// }
/// let bytes = backprop::io::to_bytes(&builder.build()?)?;
/// // A program that only ever loads small models can say so.
/// let strict = LoadOptions::new().max_layers(2);
/// assert!(matches!(strict.from_bytes::<f32>(&bytes), Err(Error::Format { .. })));
/// assert_eq!(LoadOptions::new().from_bytes::<f32>(&bytes)?.len(), 3);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    max_file_bytes: u64,
    max_header_bytes: u64,
    max_layers: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES as u64,
            max_layers: Self::DEFAULT_MAX_LAYERS,
        }
    }
}

impl LoadOptions {
    /// The default [`max_file_bytes`](Self::max_file_bytes): 2 GiB.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 << 30;

    /// The default [`max_header_bytes`](Self::max_header_bytes): 16 MiB, room for the header of
    /// a model at the default layer limit with a dozen optimizer buffers per parameter.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 << 20;

    /// The default [`max_layers`](Self::max_layers): 1024.
    pub const DEFAULT_MAX_LAYERS: usize = 1024;

    /// The default limits (see the table above).
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses files longer than `bytes` (for [`from_bytes`](Self::from_bytes), byte slices).
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// Refuses files whose JSON header is longer than `bytes`. The safetensors format itself
    /// stops at 100 MB.
    pub fn max_header_bytes(mut self, bytes: u64) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// Refuses files that declare more than `layers` layers.
    pub fn max_layers(mut self, layers: usize) -> Self {
        self.max_layers = layers;
        self
    }

    /// The header limit, for the decoder.
    pub(super) fn header_limit(&self) -> u64 {
        self.max_header_bytes
    }

    /// The layer limit, for the decoder.
    pub(super) fn layer_limit(&self) -> usize {
        self.max_layers
    }

    /// [`load`](super::load) within these limits.
    ///
    /// # Errors
    ///
    /// As [`load`](super::load); [`Error::Format`](crate::Error::Format) also for a file beyond
    /// a limit; [`Error::Io`](crate::Error::Io) also for a path that is not a regular file (a
    /// FIFO, a device or a directory is refused before it is opened, so a load never blocks).
    pub fn load<T: Float>(&self, path: impl AsRef<Path>) -> Result<Sequential<T>> {
        self.load_with_optimizer(path).map(|(model, _)| model)
    }

    /// [`load_with_optimizer`](super::load_with_optimizer) within these limits.
    ///
    /// # Errors
    ///
    /// As [`LoadOptions::load`], and for the optimizer state as
    /// [`load_with_optimizer`](super::load_with_optimizer).
    pub fn load_with_optimizer<T: Float>(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<(Sequential<T>, Option<SavedOptimizer<T>>)> {
        let bytes = self.read(path.as_ref())?;
        decode(&bytes, &path.as_ref().display().to_string(), self, None)
    }

    /// [`load_with`](super::load_with) within these limits.
    ///
    /// ```
    /// use backprop::io::{LoadOptions, Registry};
    /// use backprop::prelude::*;
    ///
    /// let model = Sequential::<f32>::builder(2).dense(2, Gelu::Tanh).dense(1, Identity).build()?;
    /// let path = std::env::temp_dir().join(format!("backprop-limits-{}.safetensors", std::process::id()));
    /// model.save(&path)?;
    /// let registry = Registry::<f32>::new(); // nothing of one's own in this model
    /// assert_eq!(LoadOptions::new().max_layers(2).load_with(&path, &registry)?.len(), 2);
    /// assert!(LoadOptions::new().max_layers(1).load_with(&path, &registry).is_err());
    /// std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`load_with`](super::load_with), and [`LoadOptions::load`].
    pub fn load_with<T: Float>(
        &self,
        path: impl AsRef<Path>,
        registry: &Registry<T>,
    ) -> Result<Sequential<T>> {
        let bytes = self.read(path.as_ref())?;
        let name = path.as_ref().display().to_string();
        decode(&bytes, &name, self, Some(registry)).map(|(model, _)| model)
    }

    /// [`from_bytes`](super::from_bytes) within these limits.
    ///
    /// # Errors
    ///
    /// As [`from_bytes`](super::from_bytes); [`Error::Format`](crate::Error::Format) also for
    /// bytes beyond a limit.
    pub fn from_bytes<T: Float>(&self, bytes: &[u8]) -> Result<Sequential<T>> {
        self.from_bytes_with_optimizer(bytes)
            .map(|(model, _)| model)
    }

    /// [`from_bytes_with_optimizer`](super::from_bytes_with_optimizer) within these limits.
    ///
    /// # Errors
    ///
    /// As [`LoadOptions::from_bytes`], and for the optimizer state as
    /// [`load_with_optimizer`](super::load_with_optimizer).
    pub fn from_bytes_with_optimizer<T: Float>(
        &self,
        bytes: &[u8],
    ) -> Result<(Sequential<T>, Option<SavedOptimizer<T>>)> {
        self.check_len(bytes)?;
        decode(bytes, BYTES, self, None)
    }

    /// [`from_bytes_with`](super::from_bytes_with) within these limits.
    ///
    /// # Errors
    ///
    /// As [`from_bytes_with`](super::from_bytes_with), and [`LoadOptions::from_bytes`].
    pub fn from_bytes_with<T: Float>(
        &self,
        bytes: &[u8],
        registry: &Registry<T>,
    ) -> Result<Sequential<T>> {
        self.check_len(bytes)?;
        decode(bytes, BYTES, self, Some(registry)).map(|(model, _)| model)
    }

    /// The file at `path`, read within [`max_file_bytes`](Self::max_file_bytes).
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        read_regular(path, self.max_file_bytes).map_err(|e| {
            if e.kind() == std::io::ErrorKind::FileTooLarge {
                let name = path.display().to_string();
                format_error(&name, format!("{e} (LoadOptions::max_file_bytes)"))
            } else {
                io_error(path, "reading", &e)
            }
        })
    }

    /// Refuses bytes longer than [`max_file_bytes`](Self::max_file_bytes).
    fn check_len(&self, bytes: &[u8]) -> Result<()> {
        if bytes.len() as u64 > self.max_file_bytes {
            return Err(format_error(
                BYTES,
                format!(
                    "{} bytes, above the limit of {} (LoadOptions::max_file_bytes)",
                    bytes.len(),
                    self.max_file_bytes
                ),
            ));
        }
        Ok(())
    }
}
