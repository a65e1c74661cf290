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


def forward_flops_per_example(tsc, models_dir, name):
    """'Total FLOPs (forward pass)' of `tsc --summary`, which is for B = 1."""
    out = subprocess.run([tsc, "--summary", f"{models_dir}/{name}.tdl"], check=True, capture_output=True,
                         text=True).stdout
    match = re.search(r"Total FLOPs \(forward pass\): ([\d,]+)", out)
    if not match:
        sys.exit(f"report.py: no FLOP total in tsc --summary of {name}")
    return int(match.group(1).replace(",", ""))


def read_results(paths):
    tsc, torch = {}, {}
    for path in paths:
        with open(path) as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 7:
                    continue
                kind, model, mode, batch, threads, ms, extra = fields
                key = (model, mode, int(batch), int(threads))
                if kind == "tsc":
                    tsc[key] = (float(ms), float(extra))
                elif kind == "torch" and (key not in torch or float(ms) < torch[key][0]):
                    torch[key] = (float(ms), extra)  # the faster of the thread splits
    return tsc, torch


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
    tsc, torch = read_results(args.results)
    flops = {name: forward_flops_per_example(args.tsc, args.models_dir, name) for name in {k[0] for k in tsc}}

    print("| model | mode | batch | threads | tsc ms | torch ms | torch variant | tsc/torch "
          "| tsc GFLOP/s | GEMM floor ms | tsc/floor |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    log_ratios = {}
    for key in sorted(tsc, key=sort_key):
        model, mode, batch, threads = key
        ms, floor_ms = tsc[key]
        work = flops[model] * batch * (TRAIN_FLOP_FACTOR if mode == "train" else 1)
        gflops = work / (ms * 1e-3) / 1e9
        if key in torch:
            torch_ms, variant = torch[key]
            ratio = ms / torch_ms
            log_ratios.setdefault((mode, threads), []).append(math.log(ratio))
            torch_cells = f"{fmt_ms(torch_ms)} | {variant} | {ratio:.2f}"
        else:
            torch_cells = "– | – | –"
        floor_cells = f"{fmt_ms(floor_ms)} | {ms / floor_ms:.2f}" if floor_ms > 0 else "– | –"
        print(f"| {model} | {mode} | {batch} | {threads} | {fmt_ms(ms)} | {torch_cells} | {gflops:.1f} "
              f"| {floor_cells} |")
    print()
    print("GFLOP/s: forward FLOPs of `tsc --summary` x batch, x3 for a training step (the usual "
          "approximation: the backward pass costs about twice the forward).")
    print("tsc/floor: the generated code's time over the time of tdl_sgemm alone on the model's GEMM shapes "
          "(im2col for convolutions; training adds dW and dX per layer, no dX for the first layer).")
    if log_ratios:
        print()
        print("Geometric mean of tsc/torch: " + ", ".join(
            f"{mode} {threads} thread{'s' if threads > 1 else ''} {math.exp(sum(v) / len(v)):.2f}"
            for (mode, threads), v in sorted(log_ratios.items())) + " (below 1: tsc is faster).")


if __name__ == "__main__":
    main()
