#!/usr/bin/env python3
"""Times the crate's three workloads side by side with the peers and the floor, in one run.

Runs every program of every workload in interleaved rounds (so that a slow spell of the machine
hits all of them alike), then prints a Markdown table of medians (min-max) and the ratios the
performance targets are stated in, of the medians and of the fastest runs. The GEMM floors of W2
and W3 are measured in every round too, right after that workload's programs, and each run is set
against its own round's floor as well as against the best rates of the whole run, each with two
kinds of rate from the GEMM program: the median of its ~20 ms batches (the benchmark suite's
convention in REFERENCE.md) and its fastest batch (a stricter floor). See the README's
performance section for the commands that build what this runs; every path can be given on the
command line. `numpy_workloads.py --compare` beside it needs nothing outside the repository.

    python3 benches/side_by_side.py --rounds 5 \
        --limit /path/to/limit-copy --peers /path/to/peers-copy --data /path/to/data
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# GEMM shapes per sample of each workload: (case name in limit/gemm, m-free FLOPs per sample).
# FLOPs per sample = 2 * (k * n) with m the rows of the batch, so the total is that * rows * epochs.
W2_SHAPES = [("w2_fwd1", 2 * 64 * 128), ("w2_fwd2", 2 * 128 * 10), ("w2_wg1", 2 * 64 * 128),
             ("w2_wg2", 2 * 128 * 10), ("w2_dg2", 2 * 10 * 128)]
W2_SAMPLES = 1797 * 30
W3_SHAPES = [("w3_fwd1", 2 * 784 * 256), ("w3_fwd2", 2 * 256 * 128), ("w3_fwd3", 2 * 128 * 10),
             ("w3_wg1", 2 * 784 * 256), ("w3_wg2", 2 * 256 * 128), ("w3_wg3", 2 * 128 * 10),
             ("w3_dg3", 2 * 10 * 128), ("w3_dg2", 2 * 128 * 256)]
W3_SAMPLES = 60000


def run_json(cmd, env=None):
    """Runs a command, returns (the last JSON line it printed, wall seconds of the process)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=full_env)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]), wall


def max_rss_kib(cmd, env=None):
    """Peak resident set of a command, from /usr/bin/time -v."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True,
                         env=full_env)
    for line in out.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[1])
    return None


# Which of the GEMM program's rates a floor uses: "median" is the benchmark suite's own convention
# (REFERENCE.md: the median of ~20 ms batches, the best over passes), "best" the fastest batch,
# a stricter floor that also counts the host's fastest moments.
RATES = ("median", "best")


def gemm_rates(binary, env, cases=""):
    """GFLOP/s per case of the f32 GEMM peak program (the cases whose name contains `cases`):
    {"median": {case: rate}, "best": {case: rate}}."""
    out = subprocess.run([binary, cases], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    rates = {kind: {} for kind in RATES}
    for line in out.stdout.splitlines():
        rec = json.loads(line)
        if rec["dtype"] == "f32":
            for kind in RATES:
                rates[kind][rec["case"].split()[0]] = rec["gflops_" + kind]
    return rates


def floor_seconds(shapes, samples, rates):
    """Sum over the GEMM shapes of their FLOPs divided by the measured rate at that shape."""
    return sum(flops * samples / (rates[name] * 1e9) for name, flops in shapes)


def fmt(xs):
    med = statistics.median(xs)
    unit, scale = ("ms", 1e3) if med < 1 else ("s", 1)
    return f"{med * scale:.3g} {unit} ({min(xs) * scale:.3g}-{max(xs) * scale:.3g})"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backprop", help="the crate's workloads bench (default: built by cargo)")
    ap.add_argument("--limit", required=True, help="a built copy of bench/limit (target/ and "
                    "target-mt/ from `cargo build --release [--features threading]`)")
    ap.add_argument("--peers", required=True, help="a copy of bench/peers (candle built)")
    ap.add_argument("--data", required=True, help="BENCH_DATA_DIR with digits.csv")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--no-candle", action="store_true")
    args = ap.parse_args()
    if args.backprop is None:
        # The bench binary's name carries a hash: cargo reports where it put it.
        sys.path.insert(0, here)
        from numpy_workloads import bench_binary
        args.backprop = bench_binary()

    t = args.threads
    thread_env = {"MATMUL_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "OMP_NUM_THREADS": t,
                  "RAYON_NUM_THREADS": t, "BENCH_DATA_DIR": args.data}
    numpy = [sys.executable, os.path.join(args.peers, "python", "numpy_peer.py")]
    candle = os.path.join(args.peers, "candle", "target", "release", "candle-peer")
    w1_loop = os.path.join(args.limit, "target", "release", "w1_loop")
    programs = {
        "w1": [("backprop", [args.backprop, "w1", "--reps", "21"]), ("numpy", numpy + ["w1"]),
               ("floor (w1_loop)", [w1_loop])],
        "w2": [("backprop", [args.backprop, "w2"]), ("numpy", numpy + ["w2"])],
        "w3": [("backprop", [args.backprop, "w3"]), ("numpy", numpy + ["w3"])],
    }
    if not args.no_candle:
        for w in ("w1", "w2", "w3"):
            programs[w].append(("candle", [candle, w, args.data]))

    print("machine:", subprocess.run(["sh", "-c", "lscpu | grep -E 'Model name|^CPU\\(s\\)|L2|L3'"],
                                     capture_output=True, text=True).stdout.replace("\n", "; "))
    def both_rates(cases="", secs="0.3"):
        return (gemm_rates(os.path.join(args.limit, "target", "release", "gemm"),
                           {"GEMM_MIN_SECS": secs}, cases),
                gemm_rates(os.path.join(args.limit, "target-mt", "release", "gemm"),
                           {"GEMM_MIN_SECS": secs, "MATMUL_NUM_THREADS": t}, cases))

    def floor_of(w, st, mt):
        """W2: at each shape the faster of one thread and two; W3: two threads. One floor per
        kind of rate."""
        if w == "w2":
            return {k: floor_seconds(W2_SHAPES, W2_SAMPLES,
                                     {c: max(st[k][c], mt[k][c]) for c in st[k]})
                    for k in RATES}
        return {k: floor_seconds(W3_SHAPES, W3_SAMPLES, mt[k]) for k in RATES}

    print("load before:", open("/proc/loadavg").read().strip())
    rates_before = both_rates()
    seconds = {w: {name: [] for name, _ in progs} for w, progs in programs.items()}
    losses = {w: {name: [] for name, _ in progs} for w, progs in programs.items()}
    # Per round: the GEMM floor measured right after the workload's programs, and the rates.
    round_floors = {"w2": [], "w3": []}
    round_rates = []
    for r in range(args.rounds):
        for w, progs in programs.items():
            for name, cmd in progs:
                rec, _ = run_json(cmd, thread_env)
                seconds[w][name].append(rec["seconds"])
                losses[w][name].append(rec["final_loss"])
            if w in round_floors:
                st_r, mt_r = both_rates(w + "_", "0.1")
                round_floors[w].append(floor_of(w, st_r, mt_r))
                round_rates.append((st_r, mt_r))
        print(f"round {r + 1}/{args.rounds} done, load {open('/proc/loadavg').read().split()[0]}",
              file=sys.stderr)
    print("load after:", open("/proc/loadavg").read().strip())
    rates_after = both_rates()

    # GEMM floors of the whole run: one thread and MATMUL_NUM_THREADS threads, the best rate of
    # each shape over a measurement before the rounds, one after them and those of every round.
    def best_over_passes(i):
        return {k: {c: max([r, rates_after[i][k][c]]
                           + [x[i][k][c] for x in round_rates if c in x[i][k]])
                    for c, r in rates_before[i][k].items()}
                for k in RATES}
    st, mt = best_over_passes(0), best_over_passes(1)
    floors = {w: floor_of(w, st, mt) for w in round_floors}
    rss = max_rss_kib([args.backprop, "w3"], thread_env)

    med = {w: {n: statistics.median(v) for n, v in d.items()} for w, d in seconds.items()}
    print()
    print(f"| workload | program | median seconds (min-max), n={args.rounds} | final loss (median) |")
    print("|---|---|---|---|")
    for w in programs:
        for name, _ in programs[w]:
            print(f"| {w} | {name} | {fmt(seconds[w][name])} | "
                  f"{statistics.median(losses[w][name]):.4g} |")
        if w in floors:
            for k in RATES:
                print(f"| {w} | floor, measured in each round (GEMM at per-shape {k} rates) | "
                      f"{fmt([f[k] for f in round_floors[w]])} | |")
                print(f"| {w} | floor at the whole run's best per-shape {k} rates | "
                      f"{floors[w][k]:.4g} s | |")
    print()
    lo = {w: {n: min(v) for n, v in d.items()} for w, d in seconds.items()}
    # Noise on a shared machine only ever adds time, so the fastest runs are shown beside the
    # medians; the floors are best rates already.
    print("| target | measured (medians) | measured (fastest runs) |")
    print("|---|---|---|")

    def row(target, ratio, unit="x"):
        print(f"| {target} | {ratio(med):.2f}{unit} | {ratio(lo):.2f}{unit} |")

    def paired(target, w, k):
        """Each run against the floor of its own round: the median and the least ratio."""
        ratios = [s / f[k] for s, f in zip(seconds[w]["backprop"], round_floors[w])]
        print(f"| {target}, each run against its round's floor | {statistics.median(ratios):.2f}x "
              f"| {min(ratios):.2f}x |")

    row("W1 within 3x of the floor loop: times the floor",
        lambda b: b["w1"]["backprop"] / b["w1"]["floor (w1_loop)"])
    row("W1: times faster than numpy", lambda b: b["w1"]["numpy"] / b["w1"]["backprop"])
    row("W2 at least 2.5x faster than numpy", lambda b: b["w2"]["numpy"] / b["w2"]["backprop"])
    for k in RATES:
        row(f"W2 within 1.3x of the GEMM floor ({k} rates, best of the run)",
            lambda b, k=k: b["w2"]["backprop"] / floors["w2"][k])
        paired(f"W2 within 1.3x of the GEMM floor ({k} rates)", "w2", k)
    row("W3 at least 1.4x faster than numpy", lambda b: b["w3"]["numpy"] / b["w3"]["backprop"])
    for k in RATES:
        row(f"W3 within 1.2x of the {t}-thread GEMM floor ({k} rates, best of the run)",
            lambda b, k=k: b["w3"]["backprop"] / floors["w3"][k])
        paired(f"W3 within 1.2x of the {t}-thread GEMM floor ({k} rates)", "w3", k)
    print(f"| W3 peak memory at most 1.5x its input | {rss * 1024 / (60000 * 784 * 4):.2f}x "
          f"({rss / 1024:.0f} MiB for {60000 * 784 * 4 / 2**20:.0f} MiB) | |")
    b = med
    if "candle" in b["w1"]:
        for w in ("w1", "w2", "w3"):
            print(f"| {w.upper()} vs candle | {b[w]['candle'] / b[w]['backprop']:.2f}x faster |")
    print()
    for k in RATES:
        print(f"Per round: backprop seconds / that round's floor at {k} rates (ratio):")
        for w in round_floors:
            print(f"  {w}: " + ", ".join(f"{s:.4g}/{f[k]:.4g} ({s / f[k]:.2f}x)" for s, f in
                                         zip(seconds[w]["backprop"], round_floors[w])))
    print()
    print("GEMM rates of the whole run (f32 GFLOP/s, median / best batch; 1 thread | threaded):")
    for c in sorted(st["best"]):
        print(f"  {c}: {st['median'][c]:.1f} / {st['best'][c]:.1f} | "
              f"{mt['median'][c]:.1f} / {mt['best'][c]:.1f}")


if __name__ == "__main__":
    main()
