"""CNN benchmark: one training epoch of the cat CNN recipe, nnscratch beside PyTorch.

    python benchmarks/bench_cnn.py                # NumPy's BLAS thread count for both
    python benchmarks/bench_cnn.py --threads 1    # one thread each
    python benchmarks/bench_cnn.py --quick        # fewer repetitions (a smoke test)

Both sides run in this one process, on the same 209 cat images (float32, channels-last for
nnscratch and channels-first for PyTorch, each library's native layout), the same architecture
(``nnscratch.models.conv.CAT_RECIPE``, translated layer by layer into ``torch.nn`` with the
same initial weights; for an ensemble recipe, one of its networks), the same mini-batches,
optimizer (Adam) and random horizontal flips and shifts. Repetitions are
interleaved and the median kept, so that load from other processes hits both alike. Prints one
Markdown row in the format of ``benchmarks/bench.py``; ``run()`` returns the numbers for it.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from perf_common import (
    interleaved,
    limit_threads,
    load_average,
    machine_info,
    median_ms,
    set_thread_env,
)

GOAL = 2.0  # nnscratch's epoch in at most 2x PyTorch's time


def load_images():
    """(X (209, 64, 64, 3) float32 in [0, 1], y (209,), source): the cat training images, or
    random images of the same shape when the files are absent."""
    from perf_common import data_dir

    directory = data_dir()
    if directory is not None:
        from nnscratch.data.cats import load_cats

        data = load_cats(directory, download=False, progress=False)
        return data.x_train.astype(np.float32) / np.float32(255), data.y_train, "cat data"
    rng = np.random.default_rng(0)
    X = rng.random((209, 64, 64, 3), dtype=np.float32)
    return X, (rng.random(209) < 72 / 209).astype(np.int64), "synthetic stand-in of the cat data"


def nnscratch_side(X, y, recipe: dict):
    from nnscratch.models.conv import ConvNetwork

    net = ConvNetwork(
        recipe["architecture"], input_shape=X.shape[1:], seed=0, **recipe.get("network", {})
    )
    # one epoch, without the end-of-epoch accuracy pass (the PyTorch loop has none either)
    options = {**recipe["fit"], "epochs": 1, "eval_train": False}
    options.pop("lr_schedule", None)  # one epoch: a schedule changes nothing of the cost
    options.pop("schedule_options", None)
    init = {k: p.copy() for k, p in net.parameters.items()}
    seeds = iter(range(10**6))

    def run() -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        net.fit(X, y, seed=next(seeds), **options)
        return time.perf_counter() - start, time.process_time() - cpu

    return net, init, run


def torch_model(net, init: dict[str, np.ndarray]):
    """``net``'s layers as a ``torch.nn.Sequential`` (NCHW) with the same initial weights."""
    import torch
    from torch import nn

    from nnscratch.nn.layers import (
        ActivationLayer,
        AveragePool2D,
        Conv2D,
        Dense,
        Flatten,
        GlobalAveragePool,
        MaxPool2D,
    )

    activations = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "identity": nn.Identity,
        "leaky_relu": lambda: nn.LeakyReLU(0.1),
    }
    modules: list = []
    shape = net.input_shape
    for layer, out_shape in zip(net.layers, net.layer_shapes, strict=True):
        name = type(layer).__name__
        if isinstance(layer, Conv2D):
            (top, bottom, left, right), _, _ = layer._geometry(shape[0], shape[1])
            if (top, left) != (bottom, right):
                modules.append(nn.ZeroPad2d((left, right, top, bottom)))
                top = left = 0
            conv = nn.Conv2d(
                layer.in_channels,
                layer.filters,
                layer.kernel_size,
                stride=layer.stride,
                padding=(top, left),
            )
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(init[f"W{layer.index}"].transpose(3, 2, 0, 1)))
                conv.bias.copy_(torch.from_numpy(init[f"b{layer.index}"]))
            modules.append(conv)
        elif isinstance(layer, Dense):
            linear = nn.Linear(layer.n_in, layer.n_out)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(init[f"W{layer.index}"]))
                linear.bias.copy_(torch.from_numpy(init[f"b{layer.index}"]))
            modules.append(linear)
        elif isinstance(layer, ActivationLayer):
            modules.append(activations[layer.activation.name]())
        elif isinstance(layer, MaxPool2D):
            modules.append(nn.MaxPool2d(layer.pool_size, stride=layer.stride))
        elif isinstance(layer, AveragePool2D):
            modules.append(nn.AvgPool2d(layer.pool_size, stride=layer.stride))
        elif isinstance(layer, GlobalAveragePool):
            modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        elif isinstance(layer, Flatten):
            modules += [_ChannelsLast(), nn.Flatten()]  # nnscratch flattens (H, W, C) in C order
        elif name == "RandomShift":
            modules.append(_RandomShift(layer.max_shift))
        elif name == "BatchNorm":
            modules.append((nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(shape[-1]))
        elif name == "Dropout":
            modules.append(nn.Dropout(1 - layer.keep_prob))
        else:
            raise ValueError(f"no PyTorch twin for layer {name}")
        shape = out_shape
    return nn.Sequential(*modules)


def _RandomShift(max_shift: int):
    """nnscratch's RandomShift in PyTorch: reflect padding, a random crop per image."""
    import torch
    from torch import nn

    class RandomShift(nn.Module):
        def forward(self, x):  # (m, C, H, W)
            if not self.training:
                return x
            m, _, H, W = x.shape
            s = max_shift
            padded = nn.functional.pad(x, (s, s, s, s), mode="reflect").permute(0, 2, 3, 1)
            dy, dx = torch.randint(0, 2 * s + 1, (2, m))
            rows = (dy[:, None] + torch.arange(H))[:, :, None]
            cols = (dx[:, None] + torch.arange(W))[:, None, :]
            return padded[torch.arange(m)[:, None, None], rows, cols].permute(0, 3, 1, 2)

    return RandomShift()


def _ChannelsLast():
    from torch import nn

    class ChannelsLast(nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1)

    return ChannelsLast()


def torch_side(net, init, X, y, recipe: dict):
    import torch

    torch.manual_seed(0)
    model = torch_model(net, init)
    model.eval()
    with torch.no_grad():  # the translation is exact: same logits from the same weights
        logits = model(torch.from_numpy(X[:4].transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(logits, net.forward(X[:4])[0], rtol=1e-3, atol=1e-4)
    fit = recipe["fit"]
    opt = torch.optim.Adam(model.parameters(), lr=fit["learning_rate"])
    loss_fn = torch.nn.BCEWithLogitsLoss()
    Xt = torch.from_numpy(X.transpose(0, 3, 1, 2).copy())  # (m, C, H, W)
    Yt = torch.from_numpy(y.astype(np.float32).reshape(-1, 1))
    batch = fit["batch_size"]
    generator = torch.Generator().manual_seed(0)

    def run() -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        model.train()
        order = torch.randperm(len(Xt), generator=generator)
        for i in range(0, len(Xt), batch):
            idx = order[i : i + batch]
            xb = Xt[idx]
            flip = torch.rand(len(idx), generator=generator) < 0.5
            xb[flip] = xb[flip].flip(3)  # horizontal: the W axis of NCHW
            opt.zero_grad()
            loss = loss_fn(model(xb), Yt[idx])
            loss.backward()
            opt.step()
            loss.item()  # the cost of each step, as fit records it
        return time.perf_counter() - start, time.process_time() - cpu

    return run


def run(X, y, *, repeats: int = 5, with_torch: bool = True) -> dict:
    """One epoch of each side, median of ``repeats`` interleaved runs, in milliseconds:
    {"nnscratch": wall, "torch": wall, "cpu": {"nnscratch": ..., "torch": ...}, "workload":
    a description for the table} (``perf_report.Report.add_timing(ms.pop("workload"), ms)``
    takes it; the goal here is <= 2x PyTorch). The process CPU times are less disturbed by other
    processes than the wall-clock times on a loaded machine."""
    from nnscratch.models.conv import CAT_RECIPE

    net, init, nn_run = nnscratch_side(X, y, CAT_RECIPE)
    sides = {"nnscratch": nn_run}
    if with_torch:
        sides["torch"] = torch_side(net, init, X, y, CAT_RECIPE)
    for run_once in sides.values():  # warm-up: first-call allocations, lazy imports
        run_once()
    cpu: dict[str, list[float]] = {name: [] for name in sides}

    def wall_only(name, run_once):
        def timed() -> float:
            wall, cpu_s = run_once()
            cpu[name].append(cpu_s)
            return wall

        return timed

    times = interleaved({name: wall_only(name, f) for name, f in sides.items()}, repeats)
    fit = CAT_RECIPE["fit"]
    out: dict = {name: median_ms(values) for name, values in times.items()}
    out["cpu"] = {name: median_ms(values) for name, values in cpu.items()}
    network = ", flip-averaged" if CAT_RECIPE.get("network", {}).get("flip_average") else ""
    k = CAT_RECIPE.get("ensemble", 1)
    member = f"one of the recipe's {k} networks: " if k > 1 else ""
    out["workload"] = (
        f"CNN on the cat images, {member}{CAT_RECIPE['architecture']}{network}, {len(X)} "
        f"images, batch {fit['batch_size']}, {fit['optimizer']} + flips, ms/epoch"
    )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="threads for BLAS and torch")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--quick", action="store_true", help="2 repetitions")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1; got {args.threads}")
        set_thread_env(args.threads)  # before NumPy's BLAS starts its threads
    threads = limit_threads(args.threads)
    X, y, source = load_images()
    ms = run(X, y, repeats=2 if args.quick else args.repeats, with_torch=not args.no_torch)
    nn_ms, torch_ms = ms["nnscratch"], ms.get("torch")
    ratio = f"{nn_ms / torch_ms:.2f}x" if torch_ms else "n/a"
    verdict = f"<= {GOAL}x: " + ("met" if torch_ms and nn_ms / torch_ms <= GOAL else "not met")
    cpu_nn, cpu_torch = ms["cpu"]["nnscratch"], ms["cpu"].get("torch")
    cpu_ratio = f"{cpu_nn / cpu_torch:.2f}x" if cpu_torch else "n/a"
    print(f"<!-- {machine_info(threads)}; load average {load_average()}; {source} -->")
    print("| workload | nnscratch | PyTorch | nnscratch / PyTorch | goal |")
    print("| --- | --- | --- | --- | --- |")
    torch_text = f"{torch_ms:.0f}" if torch_ms else "n/a"
    print(
        f"| {ms['workload']} | {nn_ms:.0f} | {torch_text} | {ratio} (CPU time: {cpu_nn:.0f} vs "
        f"{cpu_torch or float('nan'):.0f} ms, {cpu_ratio}) | {verdict} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
