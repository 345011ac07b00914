#!/usr/bin/env python3
"""The benchmark workloads of benches/README.md written in plain NumPy, and a side-by-side runner.

    python3 benches/numpy_workloads.py w1|w2|w3|w4 [--reps N] [--threads N]
    python3 benches/numpy_workloads.py --compare [w1 w2 w3 w4] [--rounds N] [--threads N]

The first form prints the same JSON lines as `cargo bench --bench workloads -- wN`, with
"peer":"numpy". The second builds the crate's bench, runs both programs in interleaved rounds (so
that a slow spell of the machine hits both alike) and prints a Markdown table of medians.
NumPy is the only requirement (`pip install numpy`); only training (W1-W3) or prediction (W4) is
timed, as in the crate's bench.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORKLOADS = ("w1", "w2", "w3", "w4")


def threads():
    """The BLAS thread count asked for (see --threads), else the number of cores."""
    return int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1))


def emit(workload, seconds, final_loss, dtype, extra=None):
    line = {"peer": "numpy", "workload": workload, "seconds": seconds,
            "final_loss": final_loss, "threads": threads(), "dtype": dtype}
    line.update(extra or {})
    print(json.dumps(line), flush=True)


def repeat(reps, run):
    """Runs `run` `reps` times; the median seconds, the loss of that run and the spread."""
    runs = sorted((run() for _ in range(reps)), key=lambda r: r[0])
    seconds, loss = runs[len(runs) // 2]
    extra = {}
    if reps > 1:
        extra = {"seconds_min": runs[0][0], "seconds_max": runs[-1][0], "reps": reps}
    return seconds, loss, extra


def w1(np):
    """The book's streetlight loop: 3-4-1, ReLU, no biases, 20 000 epochs of one row per step."""
    streetlights = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]], dtype=np.float64)
    walk_vs_stop = np.array([[1, 1, 0, 0]], dtype=np.float64).T
    np.random.seed(1)
    weights_0_1 = 2 * np.random.random((3, 4)) - 1
    weights_1_2 = 2 * np.random.random((4, 1)) - 1
    alpha = 0.2
    start = time.perf_counter()
    for _ in range(20_000):
        for i in range(len(streetlights)):
            layer_0 = streetlights[i:i + 1]
            layer_1 = np.maximum(layer_0.dot(weights_0_1), 0)
            layer_2 = layer_1.dot(weights_1_2)
            layer_2_delta = layer_2 - walk_vs_stop[i:i + 1]
            layer_1_delta = layer_2_delta.dot(weights_1_2.T) * (layer_1 > 0)
            weights_1_2 -= alpha * layer_1.T.dot(layer_2_delta)
            weights_0_1 -= alpha * layer_0.T.dot(layer_1_delta)
    seconds = time.perf_counter() - start
    pred = np.maximum(streetlights.dot(weights_0_1), 0).dot(weights_1_2)
    return seconds, float(np.sum((pred - walk_vs_stop) ** 2))


def digits(np):
    """The crate's bundled digits (data/digits.csv: a header, then 64 pixels and a label per row),
    pixels divided by 16 as float32, labels as integers."""
    table = np.loadtxt(os.path.join(REPO, "data", "digits.csv"), delimiter=",", skiprows=1)
    return (table[:, :64] / 16).astype(np.float32), table[:, 64].astype(np.int64)


def glorot(np, rng, fan_in, fan_out):
    a = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-a, a, (fan_in, fan_out)).astype(np.float32)


def mlp(np, widths, seed=0):
    """Glorot-uniform weights and zero biases for the given layer widths."""
    rng = np.random.default_rng(seed)
    return [(glorot(np, rng, i, o), np.zeros(o, dtype=np.float32))
            for i, o in zip(widths[:-1], widths[1:])]


def forward(np, params, x):
    """Every layer's output: ReLU on the hidden layers, softmax at the end."""
    outs = [x]
    for k, (w, b) in enumerate(params):
        z = outs[-1] @ w + b
        if k + 1 < len(params):
            outs.append(np.maximum(z, 0))
        else:
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            outs.append(e / e.sum(axis=1, keepdims=True))
    return outs


def gradients(np, params, x, labels):
    """Mean categorical cross-entropy gradients of one batch: the delta rule, layer by layer."""
    outs = forward(np, params, x)
    delta = outs[-1].copy()
    delta[np.arange(len(labels)), labels] -= 1
    delta /= len(labels)
    grads = []
    for k in range(len(params) - 1, -1, -1):
        w, _ = params[k]
        grads.append((outs[k].T @ delta, delta.sum(axis=0)))
        if k > 0:  # the first layer's input needs no delta
            delta = (delta @ w.T) * (outs[k] > 0)
    return grads[::-1]


def mean_cross_entropy(np, params, x, labels):
    p = forward(np, params, x)[-1][np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(p, 1e-12))))


def train(np, params, x, labels, batch, epochs, update):
    start = time.perf_counter()
    for _ in range(epochs):
        for at in range(0, len(x), batch):  # in order; the last batch may be short
            update(gradients(np, params, x[at:at + batch], labels[at:at + batch]))
    return time.perf_counter() - start


def w2(np, data):
    """64-128-10 on the digits, SGD 0.05, batches of 32, 30 epochs."""
    x, labels = data
    params = mlp(np, [64, 128, 10])

    def sgd(grads):
        for (w, b), (gw, gb) in zip(params, grads):
            w -= np.float32(0.05) * gw
            b -= np.float32(0.05) * gb

    seconds = train(np, params, x, labels, 32, 30, sgd)
    return seconds, mean_cross_entropy(np, params, x, labels)


def w3_data(np):
    """60 000 x 784 uniform float32 inputs and uniform labels from NumPy's own generator: the same
    distribution as the crate's bench, not the same values."""
    rng = np.random.default_rng(0)
    return rng.random((60_000, 784), dtype=np.float32), rng.integers(0, 10, 60_000)


def w3(np, data):
    """784-256-128-10 with Adam (1e-3, 0.9, 0.999, eps 1e-8), batches of 128, one epoch."""
    x, labels = data
    params = mlp(np, [784, 256, 128, 10])
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    moments = [[np.zeros_like(p) for p in layer for _ in (0, 1)] for layer in params]
    step = [0]

    def adam(grads):
        step[0] += 1
        t = step[0]
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        for layer, grad, m in zip(params, grads, moments):
            for j, (p, g) in enumerate(zip(layer, grad)):
                mean, var = m[2 * j], m[2 * j + 1]
                mean *= b1
                mean += (1 - b1) * g
                var *= b2
                var += (1 - b2) * g * g
                p -= (lr * (mean / c1) / (np.sqrt(var / c2) + eps)).astype(np.float32)

    seconds = train(np, params, x, labels, 128, 1, adam)
    return seconds, mean_cross_entropy(np, params, x, labels)


def w4(np):
    """W3's untrained network predicting W3's first 10 000 rows: throughput in batches of 1 000
    (w4a) and one row per call (w4b), from one thread and from two sharing the weights."""
    from concurrent.futures import ThreadPoolExecutor

    params = mlp(np, [784, 256, 128, 10])
    x = w3_data(np)[0][:10_000]
    batches = [x[k:k + 1000] for k in range(0, 10_000, 1000)]
    singles = [x[r:r + 1] for r in range(10_000)]

    def shared(items, n, work):
        """`work` over `items` split between `n` threads; the wall seconds and the results."""
        share = -(-len(items) // n)
        parts = [items[k:k + share] for k in range(0, len(items), share)]
        start = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(work, parts))
        return time.perf_counter() - start, results

    for n in (1, 2):
        seconds, sums = shared(batches, n, lambda part: sum(
            float(forward(np, params, b)[-1].sum()) for b in part))
        print(json.dumps({"peer": "numpy", "workload": "w4a", "threads": n,
                          "rows_per_second": round(len(x) / seconds),
                          "checksum": round(sum(sums), 3)}), flush=True)

    def per_call(part):
        times = []
        for row in part:
            start = time.perf_counter()
            forward(np, params, row)
            times.append(time.perf_counter() - start)
        return times

    for n in (1, 2):
        _, parts = shared(singles, n, per_call)
        calls = sorted(t for part in parts for t in part)
        at = lambda q: calls[min(int(len(calls) * q), len(calls) - 1)] * 1e6  # noqa: E731
        print(json.dumps({"peer": "numpy", "workload": "w4b", "threads": n,
                          "median_us": round(at(0.5), 2), "p99_us": round(at(0.99), 2)}),
              flush=True)


def run_numpy(workload, reps):
    import numpy as np  # after --threads has set the BLAS thread count

    if workload == "w1":
        seconds, loss, extra = repeat(reps, lambda: w1(np))
        emit("w1", seconds, loss, "f64", extra)
    elif workload == "w2":
        data = digits(np)
        seconds, loss, extra = repeat(reps, lambda: w2(np, data))
        emit("w2", seconds, loss, "f32", extra)
    elif workload == "w3":
        data = w3_data(np)
        seconds, loss, extra = repeat(reps, lambda: w3(np, data))
        emit("w3", seconds, loss, "f32", extra)
    else:
        w4(np)


def bench_binary():
    """Builds the crate's `workloads` bench and returns the path of its executable."""
    out = subprocess.run(["cargo", "bench", "--bench", "workloads", "--no-run",
                          "--message-format=json"], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"cargo bench --bench workloads --no-run failed:\n{out.stderr[-2000:]}")
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "workloads" \
                and msg.get("executable"):
            return msg["executable"]
    sys.exit("cargo did not report the workloads bench's executable")


def measures(cmd):
    """Runs one program; {(workload, threads, metric): value} from every JSON line it prints."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    found = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            for metric in ("seconds", "rows_per_second", "median_us", "p99_us"):
                if metric in rec:
                    found[(rec["workload"], rec["threads"], metric)] = rec[metric]
            if "final_loss" in rec:
                found[(rec["workload"], rec["threads"], "final_loss")] = rec["final_loss"]
    return found


def compare(workloads, rounds):
    programs = {"backprop": [bench_binary()], "numpy": [sys.executable, os.path.abspath(__file__)]}
    values = {}
    for r in range(rounds):
        for w in workloads:
            for peer, cmd in programs.items():
                for key, value in measures(cmd + [w]).items():
                    values.setdefault(key, {}).setdefault(peer, []).append(value)
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    # The speed-up is numpy's time over the crate's, or the crate's rate over numpy's.
    print("| workload | threads | measure (median) | backprop | numpy | backprop speed-up |")
    print("|---|---|---|---|---|---|")
    for (w, n, metric), by_peer in sorted(values.items()):
        med = {p: statistics.median(v) for p, v in by_peer.items()}
        b, p = med.get("backprop"), med.get("numpy")
        ratio = ""
        if b and p and metric != "final_loss":
            ratio = f"{b / p:.2f}x" if metric == "rows_per_second" else f"{p / b:.2f}x"
        print(f"| {w} | {n} | {metric} | {b:.4g} | {p:.4g} | {ratio} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workloads", nargs="*", help="w1, w2, w3 or w4")
    ap.add_argument("--reps", type=int, default=1, help="runs per workload; the median is shown")
    ap.add_argument("--threads", type=int, help="BLAS threads for NumPy and the crate")
    ap.add_argument("--compare", action="store_true", help="run the crate's bench beside NumPy")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds for --compare")
    args = ap.parse_args()
    if any(w not in WORKLOADS for w in args.workloads):
        ap.error("workloads are w1, w2, w3 and w4")
    if args.threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "MATMUL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    if args.compare:
        compare(args.workloads or list(WORKLOADS), args.rounds)
    elif len(args.workloads) == 1:
        run_numpy(args.workloads[0], args.reps)
    else:
        ap.error("give one workload, or --compare")


if __name__ == "__main__":
    main()
