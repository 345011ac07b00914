//! The threads that share large products (the `threading` feature).
//!
//! A job is a function of a chunk index `0..chunks`. The calling thread and the workers claim
//! chunks one at a time from a shared counter, so a worker that the operating system has not
//! scheduled yet costs nothing: the caller does its chunks instead, and waits only for chunks that
//! a worker has actually started. Nothing is allocated per job, so training stays allocation-free.
//! Between jobs the workers spin for a short while (a training step runs several products in a
//! row), then keep checking while yielding the CPU to other threads, and then sleep until the
//! next job.
//!
//! The number of threads is `MATMUL_NUM_THREADS` if set (the variable `matrixmultiply`, which
//! nalgebra uses, reads too), else the number of CPUs; with 1 no worker is started.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, TryLockError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// Upper bound on the threads of the pool.
const MAX_THREADS: usize = 8;
/// How long an idle worker spins on the CPU before it starts yielding it to other threads.
const SPIN: Duration = Duration::from_micros(50);
/// How long an idle worker keeps checking (yielding between checks) before it sleeps.
const POLL: Duration = Duration::from_micros(1000);
/// `open` when no job accepts helpers.
const CLOSED: usize = usize::MAX;

/// A job: called once with each chunk index.
type Job<'a> = &'a (dyn Fn(usize) + Sync);

struct Shared {
    /// The current job; written by the caller before it publishes the epoch, read by a worker
    /// only after it has registered in `active` and seen the job still open.
    job: UnsafeCell<Option<Job<'static>>>,
    chunks: AtomicUsize,
    /// The next unclaimed chunk.
    next: AtomicUsize,
    /// Incremented for each job; workers wait for it to change.
    epoch: AtomicUsize,
    /// The epoch of the job that helpers may join, or `CLOSED`.
    open: AtomicUsize,
    /// Workers between registering for a job and leaving it.
    active: AtomicUsize,
    /// Workers that have started (and done the allocations a new thread makes).
    started: AtomicUsize,
    sleeping: Vec<AtomicBool>,
    panicked: AtomicBool,
}

// SAFETY: every field but `job` is atomic. `job` (a `Sync` closure) is written only by `run`
// while no worker can read it, and read by a worker only while its job is open and the worker
// is counted in `active`, which `run` waits to drain before it returns (see `run` and `work`).
unsafe impl Sync for Shared {}

struct Pool {
    shared: &'static Shared,
    workers: Vec<Thread>,
    /// One job at a time; a second caller runs its chunks itself.
    busy: Mutex<()>,
}

/// Threads a product may use: the pool's workers plus the caller.
pub(super) fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("MATMUL_NUM_THREADS")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, MAX_THREADS)
    })
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let workers = threads() - 1;
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            job: UnsafeCell::new(None),
            chunks: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            epoch: AtomicUsize::new(0),
            open: AtomicUsize::new(CLOSED),
            active: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            sleeping: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            panicked: AtomicBool::new(false),
        }));
        let workers = (0..workers)
            .map(|w| {
                thread::Builder::new()
                    .name(format!("backprop-gemm-{}", w + 1))
                    .spawn(move || work(shared, w))
                    .expect("spawning a product thread")
                    .thread()
                    .clone()
            })
            .collect::<Vec<_>>();
        // A thread allocates as it starts; wait for that here, in the first product, so that
        // later products never overlap it.
        while shared.started.load(Ordering::Acquire) < workers.len() {
            thread::yield_now();
        }
        Pool {
            shared,
            workers,
            busy: Mutex::new(()),
        }
    })
}

/// Claims and runs chunks of the current job until none is left.
fn help(shared: &Shared, job: Job<'_>) {
    let chunks = shared.chunks.load(Ordering::Relaxed);
    loop {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= chunks {
            return;
        }
        job(i);
    }
}

/// Runs `job(i)` once for every `i` in `0..chunks`, on this thread and the pool's, and returns
/// when all have finished.
pub(super) fn run(chunks: usize, job: Job<'_>) {
    if threads() == 1 || chunks <= 1 {
        (0..chunks).for_each(job);
        return;
    }
    let pool = pool();
    let _guard = match pool.busy.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => {
            // Another thread's product holds the workers: do every chunk here.
            (0..chunks).for_each(job);
            return;
        }
    };
    let shared = pool.shared;
    // SAFETY: the last job was closed and `active` reached 0 before its `run` returned, so no
    // worker reads `job` now; a worker reads it only after registering in `active` and seeing
    // this job open, and this call closes the job and waits for `active` to drain before it
    // returns. So erasing the lifetime never lets a worker see a dangling job.
    unsafe {
        *shared.job.get() = Some(std::mem::transmute::<Job<'_>, Job<'static>>(job));
    }
    shared.chunks.store(chunks, Ordering::Relaxed);
    shared.next.store(0, Ordering::Relaxed);
    let epoch = shared.epoch.load(Ordering::Relaxed).wrapping_add(1) % CLOSED;
    shared.open.store(epoch, Ordering::SeqCst);
    shared.epoch.store(epoch, Ordering::SeqCst);
    for (w, thread) in pool.workers.iter().enumerate() {
        if shared.sleeping[w].load(Ordering::SeqCst) {
            thread.unpark();
        }
    }

    /// Closes the job and waits for the helpers that joined it, even if a chunk panics here.
    struct Close(&'static Shared);
    impl Drop for Close {
        fn drop(&mut self) {
            self.0.open.store(CLOSED, Ordering::SeqCst);
            let mut spins = 0u32;
            while self.0.active.load(Ordering::SeqCst) != 0 {
                spins += 1;
                if spins < 1 << 10 {
                    std::hint::spin_loop();
                } else {
                    // The helper was descheduled mid-chunk: give it the CPU.
                    thread::yield_now();
                }
            }
        }
    }
    let close = Close(shared);
    help(shared, job);
    drop(close);
    if shared.panicked.swap(false, Ordering::Relaxed) {
        panic!("a product thread panicked");
    }
}

/// A worker: waits for each new epoch and helps with its job while it is open.
fn work(shared: &'static Shared, w: usize) {
    // `park` uses this thread's handle; create it now, as part of starting.
    drop(thread::current());
    shared.started.fetch_add(1, Ordering::Release);
    let mut seen = 0;
    loop {
        let mut idle_since: Option<Instant> = None;
        let mut spins = 0u32;
        let epoch = loop {
            let epoch = shared.epoch.load(Ordering::SeqCst);
            if epoch != seen {
                break epoch;
            }
            spins += 1;
            if !spins.is_multiple_of(256) {
                std::hint::spin_loop();
                continue;
            }
            let now = Instant::now();
            let idle = now.duration_since(*idle_since.get_or_insert(now));
            if idle < SPIN {
                continue;
            }
            if idle < POLL {
                // A busy machine: let other threads have the CPU between checks.
                thread::yield_now();
                continue;
            }
            shared.sleeping[w].store(true, Ordering::SeqCst);
            if shared.epoch.load(Ordering::SeqCst) == seen {
                thread::park();
            }
            shared.sleeping[w].store(false, Ordering::SeqCst);
            idle_since = None;
        };
        seen = epoch;
        shared.active.fetch_add(1, Ordering::SeqCst);
        if shared.open.load(Ordering::SeqCst) == epoch {
            // SAFETY: this worker is counted in `active` and then saw its job open, so `run`
            // wrote `job` before it opened the job (the SeqCst store and load order the two),
            // and will neither return nor write `job` again before `active` drops.
            let job = unsafe { (*shared.job.get()).expect("an open job is set") };
            if catch_unwind(AssertUnwindSafe(|| help(shared, job))).is_err() {
                shared.panicked.store(true, Ordering::Relaxed);
            }
        }
        shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}
