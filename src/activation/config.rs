//! [`Config`]: the settings of an activation or a layer, as the text a saved file holds.

use std::fmt::Display;
use std::str::FromStr;

use crate::{Error, Result};

/// The settings of an activation or a layer as key/value text, the form a saved model keeps them
/// in (metadata `layer.{i}.activation.{key}`, or `layer.{i}.config.{key}` for a layer).
///
/// An activation or layer of one's own returns one from `config` to say it can be saved
/// ([`Activation::config`](crate::Activation::config), [`Layer::config`](crate::Layer::config));
/// the function registered to build it again reads it back. Keys are ASCII letters, digits and
/// `_`; a value is any text, and a number written with `Display` reads back exactly.
///
/// ```
/// use backprop::activation::Config;
///
/// let config = Config::new().with("slope", 0.2).with("name", "leaky");
/// assert_eq!(config.get("name")?, "leaky");
/// assert_eq!(config.parse::<f64>("slope")?, 0.2);
/// assert!(config.get("alpha").is_err());        // missing: a typed error naming the key
/// assert!(config.parse::<f64>("name").is_err()); // not a number
/// # Ok::<(), backprop::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pairs: Vec<(String, String)>,
}

impl Config {
    /// No settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same settings with `key` set to `value`'s text (replacing an earlier value).
    pub fn with(mut self, key: &str, value: impl Display) -> Self {
        self.set(key, value.to_string());
        self
    }

    /// Adds `key` and `value` without looking for an earlier value of `key`: for keys known to
    /// be new (a file's metadata keys are), so that reading many of them stays linear.
    #[cfg(feature = "safetensors")]
    pub(crate) fn push(&mut self, key: &str, value: String) {
        self.pairs.push((key.to_string(), value));
    }

    /// Orders the settings by key (those of a loaded file come in no particular order).
    #[cfg(feature = "safetensors")]
    pub(crate) fn sort(&mut self) {
        self.pairs.sort_unstable();
    }

    /// Sets `key` to `value`, replacing an earlier value.
    fn set(&mut self, key: &str, value: String) {
        match self.pairs.iter_mut().find(|(k, _)| k == key) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((key.to_string(), value)),
        }
    }

    /// The text of `key`.
    ///
    /// # Errors
    ///
    /// [`Error::Format`] naming the key if it is not set.
    pub fn get(&self, key: &str) -> Result<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| settings_error(format!("setting {key:?} is missing")))
    }

    /// The value of `key`, parsed (e.g. as `f64`, `usize` or `bool`).
    ///
    /// # Errors
    ///
    /// [`Error::Format`] naming the key if it is not set or does not parse.
    pub fn parse<V: FromStr>(&self, key: &str) -> Result<V> {
        let text = self.get(key)?;
        text.parse().map_err(|_| {
            settings_error(format!(
                "setting {key} = {text:?} is not a {}",
                std::any::type_name::<V>()
            ))
        })
    }

    /// Every key and value, in the order they were set (by key for settings read from a file).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of settings.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no settings.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// An [`Error::Format`] about settings being read.
fn settings_error(reason: String) -> Error {
    Error::Format {
        path: "settings".into(),
        reason,
    }
}
