"""Turns the tab-separated lines of bench_models and bench_torch.py into the
Markdown table of bench/run. Standard library only, so it works without torch.

  report.py --tsc build-bench/compiler/tsc --models-dir examples/models results.tsv
"""

import argparse
import math
import re
import subprocess
import sys

MODEL_ORDER = ("mnist_convnet", "lenet5", "vgg_small", "mlp")
TRAIN_FLOP_FACTOR = 3  # backward ~ 2x forward: the usual approximation


def summary_flops(tsc, models_dir, name):
    """From `tsc --summary` (for B = 1): the forward pass's FLOPs, and those
    of its first layer that has any, the one whose input gradient a training
    step does not compute (the input is data)."""
    out = subprocess.run([tsc, "--summary", f"{models_dir}/{name}.tdl"], check=True, capture_output=True,
                         text=True).stdout
    match = re.search(r"Total FLOPs \(forward pass\): ([\d,]+)", out)
    if not match:
        sys.exit(f"report.py: no FLOP total in tsc --summary of {name}")
    # Layer rows: name (op)  shape  params  FLOPs  activation bytes  inputs
    layers = re.findall(r"^ \S+ \([^)]*\)\s+\S+\s+[\d,]+\s+([\d,]+)\s+[\d,]+", out, re.MULTILINE)
    first = next((int(f.replace(",", "")) for f in layers if f != "0"), 0)
    return int(match.group(1).replace(",", "")), first


def multiply_add_flops(forward, first_layer, mode):
    """The layers' multiply-adds x 2 of one example: the forward's, and for a
    training step also the kernel gradients' (as many) and the input
    gradients' (as many, but for the first layer)."""
    return forward if mode == "forward" else 3 * forward - first_layer


def read_results(paths):
    tsc, torch, pinned, peaks = {}, {}, {}, {}
    for path in paths:
        with open(path) as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) == 4 and fields[0] == "peak":  # bench/kernels/fma_peak_main.c
                    peaks[int(fields[1])] = float(fields[3])
                    continue
                if len(fields) != 7:
                    continue
                kind, model, mode, batch, threads, ms, extra = fields
                key = (model, mode, int(batch), int(threads))
                if kind == "tsc":
                    tsc[key] = (float(ms), float(extra))
                elif kind.startswith("tsc@"):
                    pinned.setdefault(key, {})[kind[len("tsc@"):]] = float(ms)
                elif kind == "torch" and (key not in torch or float(ms) < torch[key][0]):
                    torch[key] = (float(ms), extra)  # the faster of the thread splits
    return tsc, torch, pinned, peaks


def print_thread_scaling(tsc, pinned):
    """Two threads against one at batch >= 32, and against one thread pinned
    to each core where bench/run measured it: two threads, each as fast as
    its core alone and never waiting, would take fast * slow / (fast + slow),
    so they can gain at most 1 + fast/slow over the faster core."""
    rows = [k for k in sorted(tsc, key=sort_key) if k[3] == 1 and k[2] >= 32 and (k[0], k[1], k[2], 2) in tsc]
    if not rows:
        return
    cpus = sorted({cpu for key in rows for cpu in pinned.get(key, {})})
    print()
    print("Two threads against one (batch >= 32):")
    print()
    header = "| model | mode | batch | 1 thread ms | 2 threads ms | speed-up |"
    rule = "|---|---|---:|---:|---:|---:|"
    if len(cpus) == 2:
        header += f" 1 thread on {cpus[0]} ms | on {cpus[1]} ms | speed-up over the faster | bound |"
        rule += "---:|---:|---:|---:|"
    print(header)
    print(rule)
    for key in rows:
        model, mode, batch, _ = key
        one, two = tsc[key][0], tsc[(model, mode, batch, 2)][0]
        line = f"| {model} | {mode} | {batch} | {fmt_ms(one)} | {fmt_ms(two)} | {one / two:.2f} |"
        on = pinned.get(key, {})
        if len(cpus) == 2 and all(cpu in on for cpu in cpus):
            fast, slow = sorted(on[cpu] for cpu in cpus)
            line += f" {fmt_ms(on[cpus[0]])} | {fmt_ms(on[cpus[1]])} | {fast / two:.2f} | {1 + fast / slow:.2f} |"
        elif len(cpus) == 2:
            line += " – | – | – | – |"
        print(line)
    if len(cpus) == 2:
        print()
        print("bound: 1 + fast/slow, the speed-up over the faster core of two threads that each ran as fast "
              "as their core alone and never waited; below 2 when one core is slower.")


def sort_key(key):
    model, mode, batch, threads = key
    order = MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)
    return (order, model, mode != "forward", threads, batch)


def fmt_ms(ms):
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.1f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tsc", required=True)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("results", nargs="+")
    args = parser.parse_args()
    tsc, torch, pinned, peaks = read_results(args.results)
    flops = {name: summary_flops(args.tsc, args.models_dir, name) for name in {k[0] for k in tsc}}

    print("| model | mode | batch | threads | tsc ms | torch ms | torch variant | tsc/torch "
          "| tsc GFLOP/s | GEMM floor ms | tsc/floor | at the FMA peak ms | that /torch |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    log_ratios = {}
    for key in sorted(tsc, key=sort_key):
        model, mode, batch, threads = key
        ms, floor_ms = tsc[key]
        forward, first_layer = flops[model]
        work = forward * batch * (TRAIN_FLOP_FACTOR if mode == "train" else 1)
        gflops = work / (ms * 1e-3) / 1e9
        torch_ms = None
        if key in torch:
            torch_ms, variant = torch[key]
            ratio = ms / torch_ms
            log_ratios.setdefault((mode, threads), []).append(math.log(ratio))
            torch_cells = f"{fmt_ms(torch_ms)} | {variant} | {ratio:.2f}"
        else:
            torch_cells = "– | – | –"
        floor_cells = f"{fmt_ms(floor_ms)} | {ms / floor_ms:.2f}" if floor_ms > 0 else "– | –"
        peak_cells = "– | –"
        if peaks.get(threads, 0) > 0:
            peak_ms = multiply_add_flops(forward, first_layer, mode) * batch / (peaks[threads] * 1e9) * 1e3
            peak_cells = f"{fmt_ms(peak_ms)} | " + (f"{peak_ms / torch_ms:.2f}" if torch_ms else "–")
        print(f"| {model} | {mode} | {batch} | {threads} | {fmt_ms(ms)} | {torch_cells} | {gflops:.1f} "
              f"| {floor_cells} | {peak_cells} |")
    print()
    print("GFLOP/s: forward FLOPs of `tsc --summary` x batch, x3 for a training step (the usual "
          "approximation: the backward pass costs about twice the forward).")
    print("tsc/floor: the generated code's time over the time of tdl_sgemm alone on the model's GEMM shapes "
          "(im2col for convolutions; training adds dW and dX per layer, no dX for the first layer).")
    if peaks:
        print("at the FMA peak: the layers' multiply-adds (a training step's: forward, kernel gradients, and "
              "input gradients but the first layer's) at the FMA peak measured in this run for that thread count "
              f"({', '.join(f'{t}: {g:.1f} GFLOP/s' for t, g in sorted(peaks.items()))}); that /torch: the "
              "tsc/torch of a program that ran them all at that peak and did nothing else. Winograd's layers "
              "(3x3, stride 1, 32+ channels: mnist_convnet, vgg_small) do fewer multiply-adds and can pass it.")
    if log_ratios:
        print()
        print("Geometric mean of tsc/torch: " + ", ".join(
            f"{mode} {threads} thread{'s' if threads > 1 else ''} {math.exp(sum(v) / len(v)):.2f}"
            for (mode, threads), v in sorted(log_ratios.items())) + " (below 1: tsc is faster).")
    print_thread_scaling(tsc, pinned)


if __name__ == "__main__":
    main()
