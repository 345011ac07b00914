//! Progress on standard error while training: with the `progress` feature a bar advanced per
//! batch, with the running epoch's number, the last epoch's figures and the time left; without
//! it a line per epoch.

use super::Epoch;
use crate::Float;

/// Progress on standard error: a bar with the `progress` feature, else a line per epoch.
pub(crate) struct Progress {
    on: bool,
    /// One past the number of the last epoch of the call (what "epoch k/n" counts up to).
    end: usize,
    #[cfg(feature = "progress")]
    bar: Option<Bar>,
}

impl Progress {
    /// Progress of epochs `first..end` of `batches` batches each, shown if `on`.
    pub(crate) fn new(on: bool, (first, end): (usize, usize), batches: usize) -> Self {
        #[cfg(feature = "progress")]
        let bar = on.then(|| Bar::new((end - first).saturating_mul(batches)));
        #[cfg(not(feature = "progress"))]
        let _ = (first, batches);
        Progress {
            on,
            end,
            #[cfg(feature = "progress")]
            bar,
        }
    }

    /// Nothing shown (for runs of epochs, which no one watches).
    pub(crate) fn off() -> Self {
        Progress {
            on: false,
            end: 0,
            #[cfg(feature = "progress")]
            bar: None,
        }
    }

    /// Epoch `epoch` begins: the bar names it.
    #[inline]
    pub(crate) fn begin_epoch(&mut self, epoch: usize) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &mut self.bar {
            bar.bar
                .set_prefix(format!("epoch {}/{}", epoch + 1, self.end));
        }
        #[cfg(not(feature = "progress"))]
        let _ = epoch;
    }

    /// A batch has trained: the bar moves, at most once per [`Throttle`] period (a test and a
    /// clock read per batch when the bar is on; nothing allocated).
    #[inline]
    pub(crate) fn batch(&mut self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &mut self.bar {
            bar.done += 1;
            if bar.throttle.due(std::time::Instant::now()) {
                bar.bar.set_position(bar.done);
            }
        }
    }

    /// Shows an epoch's figures, if on (a test inlined into the training loop; the display is
    /// not).
    #[inline]
    pub(crate) fn epoch<T: Float>(&mut self, log: &Epoch<T>) {
        if self.on {
            self.show(log);
        }
    }

    #[cold]
    #[inline(never)]
    fn show<T: Float>(&mut self, log: &Epoch<T>) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &mut self.bar {
            bar.bar.set_position(bar.done);
            bar.bar
                .set_message(format!("epoch {} {}", log.epoch + 1, figures(log)));
            return;
        }
        eprintln!("{}", epoch_line(log, self.end));
    }

    /// Batches counted so far (for tests).
    #[cfg(all(test, feature = "progress"))]
    pub(crate) fn batches_done(&self) -> u64 {
        self.bar.as_ref().map_or(0, |bar| bar.done)
    }

    pub(crate) fn finish(&mut self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.bar.finish();
        }
    }
}

/// An epoch's figures as progress shows them: `loss 0.1235 acc 0.5000 val_loss 0.2000 val_acc
/// 0.7500`, with the parts that were measured.
fn figures<T: Float>(log: &Epoch<T>) -> String {
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
    msg
}

/// The line printed for an epoch without the bar: `epoch 3/10 loss 0.1235 ...`, numbered from 1.
fn epoch_line<T: Float>(log: &Epoch<T>, end: usize) -> String {
    format!("epoch {}/{end} {}", log.epoch + 1, figures(log))
}

/// The bar of the `progress` feature: the batches of the whole call, so that its time left
/// counts every epoch still to run.
#[cfg(feature = "progress")]
struct Bar {
    bar: indicatif::ProgressBar,
    /// Batches trained so far in the call.
    done: u64,
    throttle: Throttle,
}

#[cfg(feature = "progress")]
impl Bar {
    fn new(batches: usize) -> Self {
        let bar = indicatif::ProgressBar::new(batches as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix} {bar:30} {percent:>3}% [{elapsed_precise} < {eta_precise}] {msg}",
        ) {
            bar.set_style(style);
        }
        Bar {
            bar,
            done: 0,
            throttle: Throttle::new(THROTTLE),
        }
    }
}

/// The shortest time between two moves of the bar: short enough to look smooth, long enough
/// that a step of a few microseconds does not pay for the bar's lock and redraw.
#[cfg(feature = "progress")]
const THROTTLE: std::time::Duration = std::time::Duration::from_millis(5);

/// Says yes at most once per period.
#[cfg(feature = "progress")]
struct Throttle {
    period: std::time::Duration,
    next: Option<std::time::Instant>,
}

#[cfg(feature = "progress")]
impl Throttle {
    fn new(period: std::time::Duration) -> Self {
        Throttle { period, next: None }
    }

    /// Whether to act at `now`: the first time, then once `period` has passed since the last
    /// yes.
    #[inline]
    fn due(&mut self, now: std::time::Instant) -> bool {
        if self.next.is_some_and(|next| now < next) {
            return false;
        }
        self.next = Some(now + self.period);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(accuracy: Option<f64>, val_loss: Option<f64>) -> Epoch<f64> {
        Epoch {
            epoch: 2,
            loss: 0.123456,
            learning_rate: 0.1,
            accuracy,
            val_loss,
            val_accuracy: accuracy.map(|a| a / 2.0),
        }
    }

    #[test]
    fn an_epoch_line_numbers_from_one_and_shows_what_was_measured() {
        assert_eq!(epoch_line(&log(None, None), 10), "epoch 3/10 loss 0.1235");
        assert_eq!(
            epoch_line(&log(Some(0.5), Some(0.2)), 10),
            "epoch 3/10 loss 0.1235 acc 0.5000 val_loss 0.2000 val_acc 0.2500"
        );
    }

    #[cfg(feature = "progress")]
    #[test]
    fn the_throttle_says_yes_at_most_once_per_period() {
        use std::time::{Duration, Instant};
        let mut t = Throttle::new(Duration::from_millis(5));
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let said: Vec<bool> = [0, 1, 4, 5, 6, 9, 10, 30]
            .into_iter()
            .map(|ms| t.due(at(ms)))
            .collect();
        assert_eq!(said, [true, false, false, true, false, false, true, true]);
    }

    #[cfg(feature = "progress")]
    #[test]
    fn the_bar_counts_every_batch_of_the_call_and_ends_on_the_last() {
        let mut p = Progress::new(true, (5, 8), 4);
        let bar = p.bar.as_ref().unwrap();
        assert_eq!(bar.bar.length(), Some(12));
        for epoch in 5..8 {
            p.begin_epoch(epoch);
            (0..4).for_each(|_| p.batch());
            p.epoch(&Epoch {
                epoch,
                ..log(None, None)
            });
        }
        let bar = p.bar.as_ref().unwrap();
        assert_eq!((bar.done, bar.bar.position()), (12, 12));
        assert_eq!(bar.bar.prefix(), "epoch 8/8");
        assert_eq!(bar.bar.message(), "epoch 8 loss 0.1235");
    }
}
