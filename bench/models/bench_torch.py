"""Times the PyTorch versions of the reference models the way bench_models
times the generated C: forward at batch 1, 32, 128 (softmax output, no
gradients) and a full training step at batch 32, 128 (dropout on, loss,
backward, optimizer step), warm-up then the median of several runs, each run
long enough to swamp timer noise. Every variant PyTorch offers for the job is
tried and the fastest is reported:

  forward: eager (inference_mode), torch.jit.script, torch.jit.freeze of the
           scripted model, and the frozen model after
           torch.jit.optimize_for_inference; each in NCHW and channels_last
  train:   eager and torch.jit.script, each in NCHW and channels_last

Thread counts come from the caller: --intra sets torch.set_num_threads, and
the environment (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS) is set by bench/run
before the process starts, since BLAS reads it only once.

Prints tab-separated lines for report.py:
  torch          model mode batch threads ms best-variant
  torch-variant  model mode batch threads ms variant     (every variant tried)
"""

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import torch_models

FORWARD_BATCHES = (1, 32, 128)
TRAIN_BATCHES = (32, 128)


def median_ms(call, warm_up, runs, min_run_seconds):
    """Median over runs of the mean time of one call, in milliseconds."""
    one_call = 0.0
    for _ in range(max(1, warm_up)):
        start = time.perf_counter()
        call()
        one_call = time.perf_counter() - start
    repeats = 1
    if one_call < min_run_seconds:
        repeats = min(100000, int(min_run_seconds / one_call) + 1 if one_call > 0 else 100000)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(repeats):
            call()
        samples.append((time.perf_counter() - start) / repeats)
    return 1e3 * statistics.median(samples)


class Windows:
    """Hands out the next `batch` examples of the pool on every call."""

    def __init__(self, x, y, batch):
        self.x, self.y, self.batch, self.next = x, y, batch, 0
        # Every page of the pool read once before the configuration is
        # timed, as bench_models.c's touch_pool does for the C side.
        with torch.no_grad():
            float(x.sum())

    def take(self):
        if self.next + self.batch > self.x.shape[0]:
            self.next = 0
        first = self.next
        self.next += self.batch
        return self.x[first:first + self.batch], self.y[first:first + self.batch]


def layouts_for(name):
    return ("nchw", "channels_last") if len(torch_models.MODELS[name][1]) == 3 else ("flat",)


def in_layout(tensor_or_module, layout):
    if layout == "channels_last":
        if isinstance(tensor_or_module, torch.Tensor):
            return tensor_or_module.contiguous(memory_format=torch.channels_last)
        return tensor_or_module.to(memory_format=torch.channels_last)
    return tensor_or_module


def new_model(name):
    return torch_models.keras_init(torch_models.MODELS[name][0](), seed=1)


def forward_variants(name, layout, quick):
    """(variant name, callable taking a batch, grad context) for each forward variant."""
    net = torch_models.WithSoftmax(in_layout(new_model(name), layout)).eval()
    yield "eager", net, torch.inference_mode
    scripted = torch.jit.script(net)
    if not quick:
        yield "script", scripted, torch.no_grad
    frozen = torch.jit.freeze(torch.jit.script(net))
    yield "frozen", frozen, torch.no_grad
    if quick:
        return
    try:
        optimized = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(net)))
    except Exception as error:  # an op the pass cannot handle: skip this variant
        print(f"bench_torch: {name}: optimize_for_inference failed: {error}", file=sys.stderr)
        return
    yield "frozen+optimize_for_inference", optimized, torch.no_grad


def train_variants(name, layout, quick):
    """(variant name, model to train) for each training variant."""
    yield "eager", in_layout(new_model(name), layout).train()
    if not quick:
        yield "script", torch.jit.script(in_layout(new_model(name), layout).train())


def emit(kind, name, mode, batch, threads, ms, variant):
    print(f"{kind}\t{name}\t{mode}\t{batch}\t{threads}\t{ms:.6f}\t{variant}", flush=True)


def bench_model(name, args):
    x_pool, y_pool = torch_models.data_pool(name, args.data)
    layouts = layouts_for(name)[:1] if args.quick else layouts_for(name)
    split = f"intra{torch.get_num_threads()}/blas{args.blas}"
    best = {}

    def record(mode, batch, ms, variant):
        label = f"{variant},{layout},{split}"
        emit("torch-variant", name, mode, batch, args.threads, ms, label)
        if (mode, batch) not in best or ms < best[(mode, batch)][0]:
            best[(mode, batch)] = (ms, label)

    for layout in layouts:
        x_layout = in_layout(x_pool, layout)
        for variant, net, grad_mode in forward_variants(name, layout, args.quick):
            for batch in FORWARD_BATCHES:
                windows = Windows(x_layout, y_pool, batch)

                def call():
                    with grad_mode():
                        net(windows.take()[0])

                record("forward", batch, median_ms(call, args.warm_up, args.runs, args.run_ms / 1e3), variant)
        for variant, model in train_variants(name, layout, args.quick):
            optimizer = torch_models.MODELS[name][2](model.parameters())
            for batch in TRAIN_BATCHES:
                windows = Windows(x_layout, y_pool, batch)

                def step():
                    x, y = windows.take()
                    optimizer.zero_grad(set_to_none=True)
                    loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    optimizer.step()

                record("train", batch, median_ms(step, args.warm_up, args.runs, args.run_ms / 1e3), variant)
    for (mode, batch), (ms, label) in sorted(best.items()):
        emit("torch", name, mode, batch, args.threads, ms, label)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, required=True, help="threads of this configuration (for the table)")
    parser.add_argument("--intra", type=int, required=True, help="torch.set_num_threads")
    parser.add_argument("--blas", type=int, required=True, help="OPENBLAS_NUM_THREADS the caller set (for the label)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--warm-up", type=int, default=3)
    parser.add_argument("--run-ms", type=float, default=20.0)
    parser.add_argument("--data", default=torch_models.FASHION_DIR)
    parser.add_argument("--model", action="append", help="only this model (repeatable)")
    parser.add_argument("--quick", action="store_true", help="eager and frozen only, NCHW only")
    args = parser.parse_args()
    torch.set_num_threads(args.intra)
    torch.set_num_interop_threads(1)
    torch.manual_seed(1)
    for name in args.model or torch_models.MODELS:
        bench_model(name, args)


if __name__ == "__main__":
    main()
