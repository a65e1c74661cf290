"""Trains examples/fashion_mnist/fashion_cnn.tdl's network in PyTorch the way
examples/fashion_mnist/train.c does with the generated C: Keras initialisers,
Adam(1e-3, eps=1e-7), batch 128, the training set reshuffled every epoch (a
seeded permutation), dropout 0.5, and the test set evaluated after each
epoch. Prints the trainer's line format, so bench/run reads both alike:

  epoch N/M: test loss L, test accuracy X% (T s so far)

The clock starts before the first epoch and includes the evaluations, as in
train.c. OMP_NUM_THREADS/OPENBLAS_NUM_THREADS come from the caller."""

import argparse
import time

import torch
import torch.nn.functional as F

import torch_models


def evaluate(model, x, y, batch):
    model.eval()
    loss_sum, hits = 0.0, 0
    with torch.inference_mode():
        for first in range(0, x.shape[0], batch):
            logits = model(x[first:first + batch])
            labels = y[first:first + batch]
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            hits += (logits.argmax(dim=1) == labels).sum().item()
    model.train()
    return loss_sum / x.shape[0], hits / x.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--intra", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--layout", choices=("nchw", "channels_last"), default="channels_last")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stop-at", type=float, default=None, metavar="PERCENT",
                        help="stop after the first epoch whose test accuracy reaches PERCENT")
    parser.add_argument("--data", default=torch_models.FASHION_DIR)
    args = parser.parse_args()
    torch.set_num_threads(args.intra)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    memory_format = torch.channels_last if args.layout == "channels_last" else torch.contiguous_format
    x_train, y_train = torch_models.fashion_split("train", args.data)
    x_test, y_test = torch_models.fashion_split("t10k", args.data)
    x_train = x_train.contiguous(memory_format=memory_format)
    x_test = x_test.contiguous(memory_format=memory_format)
    model = torch_models.keras_init(torch_models.MnistConvnet(), args.seed).to(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-7)
    shuffle = torch.Generator().manual_seed(args.seed)
    print(f"PyTorch {torch.__version__}: {x_train.shape[0]} training and {x_test.shape[0]} test images; "
          f"{args.epochs} epochs, batch {args.batch}, Adam lr {args.lr:g}, {args.intra} intra-op threads, "
          f"{args.layout}", flush=True)

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(x_train.shape[0], generator=shuffle)
        for first in range(0, x_train.shape[0], args.batch):
            index = order[first:first + args.batch]
            x = x_train[index].contiguous(memory_format=memory_format)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y_train[index])
            loss.backward()
            optimizer.step()
        test_loss, accuracy = evaluate(model, x_test, y_test, args.batch)
        print(f"epoch {epoch}/{args.epochs}: test loss {test_loss:.4f}, test accuracy {100 * accuracy:.2f}% "
              f"({time.perf_counter() - start:.0f} s so far)", flush=True)
        if args.stop_at is not None and 100 * accuracy >= args.stop_at:
            break


if __name__ == "__main__":
    main()
