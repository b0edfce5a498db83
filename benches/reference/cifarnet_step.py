"""PyTorch reference for `byzsgd bench step`: one CifarNet training step (forward, backward, SGD)
on CPU, same shapes and batch sizes. Not a project dependency: run it from a throwaway venv
(`python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch`).

    /tmp/torchvenv/bin/python benches/reference/cifarnet_step.py --batch 32
"""
import argparse
import statistics
import time

import torch
from torch import nn


def cifarnet():
    return nn.Sequential(
        nn.Conv2d(3, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
        nn.Flatten(), nn.Linear(4096, 384), nn.ReLU(), nn.Linear(384, 192), nn.ReLU(), nn.Linear(192, 10),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(42)
    model = cifarnet()
    assert sum(p.numel() for p in model.parameters()) == 1_756_426
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.arange(args.batch) % 10
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for t in range(args.steps + 2):
        start = time.perf_counter()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        if t >= 2:
            times.append((time.perf_counter() - start) * 1e3)
    ms = statistics.median(times)
    gflop = 6 * 32_778_112 * args.batch / 1e9
    print(f"pytorch {torch.__version__} threads {torch.get_num_threads()}: cifarnet batch {args.batch}: "
          f"{ms:.2f} ms per step, {gflop / (ms / 1e3):.1f} GFLOP/s")


if __name__ == "__main__":
    main()
