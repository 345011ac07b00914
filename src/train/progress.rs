//! Progress on standard error while training: a bar with the `progress` feature, else a line
//! per epoch.

use super::Epoch;
use crate::Float;

/// Progress on standard error: a bar with the `progress` feature, else a line per epoch.
pub(crate) struct Progress {
    on: bool,
    epochs: usize,
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(crate) fn new(on: bool, epochs: usize) -> Self {
        #[cfg(feature = "progress")]
        let bar = on.then(|| {
            let bar = indicatif::ProgressBar::new(epochs as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:30} epoch {pos}/{len} {msg} [{elapsed_precise}]",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            on,
            epochs,
            #[cfg(feature = "progress")]
            bar,
        }
    }

    /// Shows an epoch, if on (a test inlined into the training loop; the display is not).
    #[inline]
    pub(crate) fn epoch<T: Float>(&mut self, log: &Epoch<T>) {
        if self.on {
            self.show(log);
        }
    }

    #[cold]
    #[inline(never)]
    fn show<T: Float>(&mut self, log: &Epoch<T>) {
        let mut msg = format!("loss {:.4}", log.loss.as_f64());
        if let Some(a) = log.accuracy {
            msg += &format!(" acc {a:.4}");
        }
        if let Some(v) = log.val_loss {
            msg += &format!(" val_loss {:.4}", v.as_f64());
        }
        if let Some(a) = log.val_accuracy {
            msg += &format!(" val_acc {a:.4}");
        }
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
            bar.inc(1);
            return;
        }
        eprintln!("epoch {}/{} {msg}", log.epoch + 1, self.epochs);
    }

    pub(crate) fn finish(&mut self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
