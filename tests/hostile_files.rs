//! Hostile files: FIFOs and devices that would block a read, headers crafted to cost quadratic time
//! or many times their size in memory, flipped bytes anywhere in a saved file, long file names,
//! temporary files left by killed saves, and f32 scalers whose results overflow.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use backprop::data::{
    LabelColumn, MinMaxScaler, Standardizer, read_csv, read_idx_images, read_idx_labels,
    read_labelled_csv,
};
use backprop::io::{self, LoadOptions, SavedOptimizer};
use backprop::layer::Dropout;
use backprop::prelude::*;
use nalgebra::DMatrix;
use safetensors::tensor::{SafeTensors, TensorView};

// ----- a per-thread counting allocator, to measure what one load costs ------------------------

/// Counts the bytes each thread has allocated and not freed, and the peak since a reset, so that
/// tests running in parallel do not see each other's allocations.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    // `try_with`: during thread teardown the counters may be gone; nothing to count then.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc` and `realloc`).
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on as it is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The peak of this thread's live heap bytes while `f` runs, above what was live before it.
fn peak_heap<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, (PEAK.with(Cell::get) - base).max(0) as usize)
}

// ----- helpers --------------------------------------------------------------------------------

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backprop-hostile-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `f` on another thread and gives its result, or `None` if it has not finished after
/// `limit` (the thread is then left behind, blocked).
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// The metadata every saved model starts with, for `layers` layers of width 1 in `f64`.
fn base_metadata(layers: usize) -> HashMap<String, String> {
    [
        ("format", "backprop.Sequential".to_string()),
        ("format_version", "1".to_string()),
        ("dtype", "f64".to_string()),
        ("inputs", "1".to_string()),
        ("layers", layers.to_string()),
        ("loss", "SquaredError".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A file of `n` dropout layers of width 1 (no tensors: everything is in the header).
fn dropout_file(n: usize) -> Vec<u8> {
    let mut meta = base_metadata(n);
    for i in 0..n {
        meta.insert(format!("layer.{i}.kind"), "Dropout".into());
        meta.insert(format!("layer.{i}.inputs"), "1".into());
        meta.insert(format!("layer.{i}.outputs"), "1".into());
        meta.insert(format!("layer.{i}.rate"), "0.5".into());
    }
    safetensors::serialize(Vec::<(String, TensorView<'_>)>::new(), Some(meta)).unwrap()
}

/// A file of `n` dense layers `1 -> 1` without bias, plus one tensor no layer has.
fn dense_file_with_an_extra_tensor(n: usize) -> Vec<u8> {
    let mut meta = base_metadata(n);
    for i in 0..n {
        meta.insert(format!("layer.{i}.kind"), "Dense".into());
        meta.insert(format!("layer.{i}.inputs"), "1".into());
        meta.insert(format!("layer.{i}.outputs"), "1".into());
        meta.insert(format!("layer.{i}.bias"), "false".into());
        meta.insert(format!("layer.{i}.activation"), "Identity".into());
    }
    let one = 1.0f64.to_le_bytes();
    let mut tensors: Vec<(String, TensorView<'_>)> = (0..n)
        .map(|i| {
            let view = TensorView::new(safetensors::Dtype::F64, vec![1, 1], &one).unwrap();
            (format!("layer.{i}.weights"), view)
        })
        .collect();
    let extra = TensorView::new(safetensors::Dtype::F64, vec![1], &one).unwrap();
    tensors.push(("surplus".into(), extra));
    safetensors::serialize(tensors, Some(meta)).unwrap()
}

/// A small model with every kind of saved part: two dense layers (one without bias) around a
/// dropout layer, trained a little with Adam.
fn small_with_adam() -> (Sequential<f64>, Adam<f64>) {
    let mut model = Sequential::<f64>::builder(2)
        .seed(4)
        .dense(2, Relu)
        .dropout(0.25)
        .bias(false)
        .dense(1, Sigmoid)
        .loss(BinaryCrossEntropy)
        .build()
        .unwrap();
    let x = DMatrix::from_row_slice(3, 2, &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    let y = DMatrix::from_column_slice(3, 1, &[1.0, 1.0, 0.0]);
    let mut adam = Adam::new(0.01).unwrap();
    for _ in 0..2 {
        model.step(&x, &y, &mut adam).unwrap();
    }
    (model, adam)
}

/// Everything a file says, as the crate would write it again: metadata (less the checksum) and
/// every tensor by name with its type, shape and bytes.
type Contents = (
    Vec<(String, String)>,
    Vec<(String, String, Vec<usize>, Vec<u8>)>,
);

fn contents(bytes: &[u8]) -> Contents {
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta: Vec<(String, String)> = header
        .metadata()
        .clone()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k != "checksum")
        .collect();
    meta.sort();
    let file = SafeTensors::deserialize(bytes).unwrap();
    let mut tensors: Vec<_> = file
        .iter()
        .map(|(name, view)| {
            let dtype = view.dtype().to_string();
            (
                name.to_string(),
                dtype,
                view.shape().to_vec(),
                view.data().to_vec(),
            )
        })
        .collect();
    tensors.sort();
    (meta, tensors)
}

// ----- item 5: reads that would block, checks that would take quadratic time -------------------

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = scratch("fifo");
    let fifo = dir.join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo is not available here: FIFO case skipped");
        return;
    }
    type Reader = fn(&Path) -> Result<()>;
    let readers: [(&str, Reader); 6] = [
        ("load", |p| Sequential::<f64>::load(p).map(drop)),
        ("load_with_optimizer", |p| {
            Sequential::<f64>::load_with_optimizer(p).map(drop)
        }),
        ("read_idx_images", |p| read_idx_images::<f64>(p).map(drop)),
        ("read_idx_labels", |p| read_idx_labels(p).map(drop)),
        ("read_csv", |p| read_csv::<f64>(p, false).map(drop)),
        ("read_labelled_csv", |p| {
            read_labelled_csv::<f64>(p, LabelColumn::Last, false).map(drop)
        }),
    ];
    for (name, read) in readers {
        let path = fifo.clone();
        let Some(result) = within(Duration::from_secs(5), move || read(&path)) else {
            // Let the blocked reader go (its open() returns once a writer appears), then fail.
            let _ = fs::OpenOptions::new().write(true).open(&fifo);
            panic!("{name} blocked on a FIFO with no writer");
        };
        match result {
            Err(Error::Io { path, message }) => {
                assert!(path.ends_with("pipe"), "{name}: {path}");
                assert!(message.contains("not a regular file"), "{name}: {message}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn devices_and_directories_are_refused_before_reading() {
    let dir = scratch("devices");
    for path in [
        Path::new("/dev/zero"),
        Path::new("/dev/null"),
        dir.as_path(),
    ] {
        if !path.exists() {
            continue;
        }
        let p = path.to_path_buf();
        let result = within(Duration::from_secs(5), move || {
            (
                Sequential::<f64>::load(&p).map(drop),
                read_idx_labels(&p).map(drop),
                read_csv::<f32>(&p, true).map(drop),
            )
        })
        .unwrap_or_else(|| panic!("{} blocked", path.display()));
        for r in [result.0, result.1, result.2] {
            assert!(
                matches!(&r, Err(Error::Io { message, .. }) if message.contains("not a regular file")),
                "{}: {r:?}",
                path.display()
            );
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unexpected_tensor_among_many_layers_is_refused_in_linear_time() {
    let n = 20_000;
    let bytes = dense_file_with_an_extra_tensor(n);
    let options = LoadOptions::new().max_layers(n);
    let start = Instant::now();
    let err = options.from_bytes::<f64>(&bytes).unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(&err, Error::Format { reason, .. } if reason.contains("surplus")),
        "{err}"
    );
    // Quadratic name checks took 22 s here; a linear decode of 20 000 layers takes milliseconds.
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn a_long_list_of_optimizer_buffer_names_is_checked_in_linear_time() {
    let (model, adam) = small_with_adam();
    let bytes = io::to_bytes_with_optimizer(&model, &adam).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    meta.remove("checksum");
    // A custom optimizer listing 200 000 buffer names that no tensor has.
    let names: Vec<String> = (0..200_000).map(|k| format!("b{k}")).collect();
    meta.insert("optimizer".into(), "custom".into());
    meta.insert("optimizer.buffers".into(), names.join(","));
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<_> = file
        .iter()
        .filter(|(n, _)| !n.starts_with("optimizer."))
        .collect();
    let crafted = safetensors::serialize(tensors, Some(meta)).unwrap();
    let start = Instant::now();
    let err = io::from_bytes_with_optimizer::<f64>(&crafted).unwrap_err();
    assert!(matches!(err, Error::Format { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

// ----- item 6: memory -------------------------------------------------------------------------

#[test]
fn a_file_declaring_more_layers_than_the_limit_is_refused() {
    let bytes = dropout_file(20_000);
    let err = io::from_bytes::<f64>(&bytes).unwrap_err();
    assert!(
        matches!(&err, Error::Format { reason, .. } if reason.contains("max_layers")),
        "{err}"
    );
    // The limit is the caller's to raise.
    let options = LoadOptions::new().max_layers(20_000);
    assert_eq!(options.from_bytes::<f64>(&bytes).unwrap().len(), 20_000);
}

#[test]
fn a_file_larger_than_the_limit_is_refused_before_it_is_read() {
    let dir = scratch("large");
    let path = dir.join("sparse.safetensors");
    // A sparse file: 64 MiB long, no disk used.
    fs::File::create(&path).unwrap().set_len(64 << 20).unwrap();
    let options = LoadOptions::new().max_file_bytes(1 << 20);
    let (result, peak) = peak_heap(|| options.load::<f64>(&path));
    let err = result.unwrap_err();
    assert!(
        matches!(&err, Error::Format { reason, .. } if reason.contains("max_file_bytes")),
        "{err}"
    );
    assert!(peak < 1 << 16, "{peak} bytes allocated");
    // A header longer than its limit is refused before it is parsed.
    let bytes = dropout_file(1000);
    let options = LoadOptions::new().max_header_bytes(1000);
    let err = options.from_bytes::<f64>(&bytes).unwrap_err();
    assert!(
        matches!(&err, Error::Format { reason, .. } if reason.contains("max_header_bytes")),
        "{err}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// The peak heap of loading `bytes` from a file, in bytes.
fn load_cost(dir: &Path, name: &str, bytes: &[u8]) -> usize {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    let (result, peak) = peak_heap(|| Sequential::<f64>::load_with_optimizer(&path));
    eprintln!(
        "{name}: {} bytes, peak heap {peak} bytes = {:.2} x the file ({})",
        bytes.len(),
        peak as f64 / bytes.len() as f64,
        if result.is_ok() { "loaded" } else { "refused" }
    );
    peak
}

#[test]
fn loading_crafted_files_costs_a_small_multiple_of_their_size() {
    let dir = scratch("memory");
    let limit = LoadOptions::DEFAULT_MAX_LAYERS;
    // As many dropout layers as a load accepts (their 2.5 KB generators are made only to train).
    let dropouts = dropout_file(limit);
    // As many 1-unit dense layers, and one tensor too many (refused after building them all).
    let dense = dense_file_with_an_extra_tensor(limit);
    // Junk metadata: a header as long as a load accepts, of short entries.
    let mut meta = base_metadata(1);
    let entries = LoadOptions::DEFAULT_MAX_HEADER_BYTES / 24;
    for k in 0..entries {
        meta.insert(format!("k{k}"), String::new());
    }
    let junk = safetensors::serialize(Vec::<(String, TensorView<'_>)>::new(), Some(meta)).unwrap();
    // A real model of 400 x 400 weights with Adam's state: tensor bytes dominate.
    let mut model = Sequential::<f64>::builder(400)
        .seed(1)
        .dense(400, Relu)
        .build()
        .unwrap();
    let x = DMatrix::from_element(2, 400, 0.5);
    let mut adam = Adam::new(0.01).unwrap();
    model
        .step(&x, &DMatrix::from_element(2, 400, 1.0), &mut adam)
        .unwrap();
    let real = io::to_bytes_with_optimizer(&model, &adam).unwrap();
    // The bound: MULTIPLE x the file. Parsing a header into maps of strings costs about 10
    // times its length (measured: 9.9 for junk entries of 13 bytes); the header limit bounds
    // that at 16 MiB of header.
    const MULTIPLE: usize = 12;
    let cases = [
        ("dropouts", &dropouts),
        ("dense", &dense),
        ("junk", &junk),
        ("real", &real),
    ];
    for (name, bytes) in cases {
        let peak = load_cost(&dir, name, bytes);
        let bound = MULTIPLE * bytes.len();
        assert!(peak <= bound, "{name}: {peak} > {bound}");
    }
    // A real model costs little more than its file and its matrices.
    let peak = load_cost(&dir, "real", &real);
    assert!(peak <= 3 * real.len(), "{peak}");
    fs::remove_dir_all(&dir).unwrap();
}

// ----- item 7: integrity of the whole file ----------------------------------------------------

#[test]
fn a_flipped_tensor_byte_is_a_checksum_error() {
    let (model, _) = small_with_adam();
    let bytes = io::to_bytes(&model).unwrap();
    let mut flipped = bytes.clone();
    // The lowest mantissa byte of the last value: a tiny change to one weight.
    let last = flipped.len() - 8;
    flipped[last] ^= 0x01;
    assert_checksum_error(io::from_bytes::<f64>(&flipped));
}

/// Asserts that `result` is the error of a checksum that does not match.
fn assert_checksum_error<R: std::fmt::Debug>(result: Result<R>) {
    assert!(
        matches!(&result, Err(Error::Format { reason, .. }) if reason.contains("checksum")),
        "{result:?}"
    );
}

#[test]
fn a_flipped_metadata_value_is_a_checksum_error() {
    let (model, adam) = small_with_adam();
    let bytes = io::to_bytes_with_optimizer(&model, &adam).unwrap();
    // A dropout rate of 0.35 instead of 0.25, and a step count of 7 instead of 2: well-formed
    // values that would load as another model or another state.
    let edits = [
        ("\"layer.1.rate\":\"0.25\"", "\"layer.1.rate\":\"0.35\""),
        ("\"optimizer.step\":\"2\"", "\"optimizer.step\":\"7\""),
    ];
    for (from, to) in edits {
        let text = String::from_utf8_lossy(&bytes);
        let at = text
            .find(from)
            .unwrap_or_else(|| panic!("{from} in the header"));
        let mut edited = bytes.clone();
        edited[at..at + to.len()].copy_from_slice(to.as_bytes());
        assert_checksum_error(io::from_bytes_with_optimizer::<f64>(&edited));
    }
}

#[test]
fn a_file_without_a_checksum_still_loads() {
    let (model, adam) = small_with_adam();
    let bytes = io::to_bytes_with_optimizer(&model, &adam).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    assert!(
        meta.remove("checksum")
            .is_some_and(|c| c.starts_with("crc32:"))
    );
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let old = safetensors::serialize(file.tensors(), Some(meta)).unwrap();
    let (loaded, saved) = io::from_bytes_with_optimizer::<f64>(&old).unwrap();
    let again = resave(&loaded, saved.unwrap());
    assert_eq!(contents(&again), contents(&bytes));
    // A checksum that is not understood is refused, not ignored.
    let mut meta = header.metadata().clone().unwrap();
    meta.insert("checksum".into(), "sha1:00".into());
    let odd = safetensors::serialize(file.tensors(), Some(meta)).unwrap();
    assert!(matches!(
        io::from_bytes::<f64>(&odd),
        Err(Error::Format { .. })
    ));
}

/// The file the crate writes for a loaded model and its optimizer state.
fn resave(model: &Sequential<f64>, saved: SavedOptimizer<f64>) -> Vec<u8> {
    let mut adam = Adam::new(0.5).unwrap();
    saved.restore(&mut adam).unwrap();
    io::to_bytes_with_optimizer(model, &adam).unwrap()
}

/// Decodes `bytes` with every single-byte change (each byte XORed with every mask in `masks`)
/// and checks that each gives a typed error or exactly the original contents; returns the number
/// of decodes and of those that loaded.
fn every_change(
    bytes: &[u8],
    masks: &[u8],
    decode: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> (usize, usize) {
    let want = contents(bytes);
    let (mut decodes, mut loaded) = (0, 0);
    let mut flipped = bytes.to_vec();
    for at in 0..bytes.len() {
        for &mask in masks {
            flipped[at] ^= mask;
            if let Some(again) = decode(&flipped) {
                assert_eq!(contents(&again), want, "byte {at} ^ {mask:#04x}");
                loaded += 1;
            }
            flipped[at] ^= mask;
            decodes += 1;
        }
    }
    (decodes, loaded)
}

#[test]
fn every_single_byte_change_is_an_error_or_the_identical_model() {
    let (model, adam) = small_with_adam();
    let start = Instant::now();
    // Every bit flip and the complement of every byte of both files; in release also every
    // other value of every byte of the model alone (all 255 for both would take 10 s here).
    let flips = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff];
    let every: Vec<u8> = if cfg!(debug_assertions) {
        flips.to_vec()
    } else {
        (1..=255).collect()
    };
    let weights = io::to_bytes(&model).unwrap();
    let with_state = io::to_bytes_with_optimizer(&model, &adam).unwrap();
    // The two files on two threads: the test takes half as long.
    let ((n1, ok1), (n2, ok2)) = std::thread::scope(|s| {
        let first = s.spawn(|| {
            every_change(&weights, &every, |b| {
                let loaded = io::from_bytes::<f64>(b).ok()?;
                Some(io::to_bytes(&loaded).unwrap())
            })
        });
        let second = every_change(&with_state, &flips, |b| {
            let (loaded, saved) = io::from_bytes_with_optimizer::<f64>(b).ok()?;
            Some(resave(&loaded, saved.expect("the optimizer state")))
        });
        (first.join().unwrap(), second)
    });
    eprintln!(
        "{n1} changes of a {}-byte model ({ok1} loaded identically), {n2} of a {}-byte model \
         with Adam's state ({ok2} loaded identically), in {:?}",
        weights.len(),
        with_state.len(),
        start.elapsed()
    );
    // Only a few changes may be harmless: whitespace for the header's padding spaces, and a
    // renamed checksum key (an unchecked file with an extra key, otherwise the same).
    assert!(ok1 + ok2 < (n1 + n2) / 20, "{ok1} + {ok2}");
}

// ----- item 8: file names, temporaries, scalers -----------------------------------------------

#[test]
fn a_file_name_of_250_bytes_can_be_saved() {
    let dir = scratch("long");
    let name = format!("{}.safetensors", "m".repeat(250 - ".safetensors".len()));
    assert_eq!(name.len(), 250);
    let path = dir.join(&name);
    let (model, _) = small_with_adam();
    model.save(&path).unwrap();
    let loaded = Sequential::<f64>::load(&path).unwrap();
    assert_eq!(
        io::to_bytes(&loaded).unwrap().len(),
        fs::metadata(&path).unwrap().len() as usize
    );
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from(name)]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn temporaries_of_a_killed_save_are_removed_by_the_next_save() {
    let dir = scratch("stale");
    let path = dir.join("model.safetensors");
    let (model, _) = small_with_adam();
    // What a save killed an hour ago left: a temporary of this crate's pattern (this version's
    // and the one before), never renamed; and files that only look similar.
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let stale = [
        ".backprop-0123456789abcdef.tmp",
        ".model.safetensors.4242.0.tmp",
    ];
    let kept = [
        ".other.safetensors.4242.0.tmp",
        ".backprop-notahexnumber!.tmp",
        "notes.tmp",
    ];
    for name in stale.iter().chain(&kept) {
        let file = fs::File::create(dir.join(name)).unwrap();
        file.set_modified(hour_ago).unwrap();
    }
    // A temporary being written right now (recent) is left alone.
    fs::write(dir.join(".backprop-fedcba9876543210.tmp"), b"in progress").unwrap();
    model.save(&path).unwrap();
    let mut left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut want: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
    want.push(".backprop-fedcba9876543210.tmp".into());
    want.push("model.safetensors".into());
    want.sort();
    assert_eq!(left, want);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn f32_scalers_refuse_results_that_overflow_f32() {
    // A tiny spread when fitted, a large value later: (3e38 - 0) / 5e-31 is far beyond f32.
    let fitted = DMatrix::<f32>::from_column_slice(2, 1, &[0.0, 1e-30]);
    let new = DMatrix::<f32>::from_column_slice(2, 1, &[1e-30, 3e38]);
    let standardizer = Standardizer::fit(&fitted).unwrap();
    let minmax = MinMaxScaler::fit(&fitted).unwrap();
    for (name, result) in [
        ("Standardizer", standardizer.transform(&new)),
        ("MinMaxScaler", minmax.transform(&new)),
    ] {
        assert!(
            matches!(&result, Err(Error::NonFinite { row: 1, col: 0, .. })),
            "{name}: {result:?}"
        );
    }
    // In place, the matrix is left as it was.
    let mut x = new.clone();
    assert!(standardizer.transform_in_place(&mut x).is_err());
    assert!(minmax.transform_in_place(&mut x).is_err());
    assert_eq!(x, new);
    // Non-finite inputs stay non-finite, as documented, and are not an error.
    let nan = DMatrix::<f32>::from_column_slice(1, 1, &[f32::NAN]);
    assert!(standardizer.transform(&nan).unwrap()[0].is_nan());
    // The same data in f64 stays finite.
    let z = Standardizer::fit(&fitted.map(f64::from))
        .unwrap()
        .transform(&new.map(f64::from))
        .unwrap();
    assert!(z.iter().all(|v| v.is_finite()));
}

#[test]
fn the_layer_limit_leaves_ordinary_models_alone() {
    // A deep but ordinary model (100 layers) saves and loads with the default limits.
    let mut b = Sequential::<f32>::builder(3).seed(9);
    for _ in 0..50 {
        b = b.dense(3, Tanh).dropout(0.1);
    }
    let model = b.build().unwrap();
    let loaded = io::from_bytes::<f32>(&io::to_bytes(&model).unwrap()).unwrap();
    assert_eq!(loaded.len(), 100);
    assert_eq!(loaded.layer_as::<Dropout<f32>>(99).unwrap().rate(), 0.1);
}
