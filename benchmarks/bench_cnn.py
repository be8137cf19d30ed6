"""CNN benchmark: one training epoch of the cat CNN recipe, nnscratch beside PyTorch.

    python benchmarks/bench_cnn.py --threads 1    # one thread each (issue 16's goal 2)
    python benchmarks/bench_cnn.py                # NumPy's BLAS thread count for both
    python benchmarks/bench_cnn.py --quick        # fewer repetitions (a smoke test)
    python benchmarks/bench_cnn.py --profile      # per-layer forward/backward table, one batch
    python benchmarks/bench_cnn.py --torch-layout nchw   # PyTorch in channels-first instead
    python benchmarks/bench_cnn.py --in-epoch     # our per-layer times inside whole epochs

Both sides run in this one process, on the same 209 cat images (float32, channels-last for
nnscratch; PyTorch in ``channels_last`` memory format by default, its faster layout on this
machine's AVX2 cores, or NCHW with ``--torch-layout nchw``), the same architecture
(``nnscratch.models.conv.CAT_RECIPE``, translated layer by layer into ``torch.nn`` with the
same initial weights; for an ensemble recipe, one of its networks), the same mini-batches,
optimizer (Adam) and random horizontal flips and shifts. Repetitions are
interleaved and the median kept, so that load from other processes hits both alike. Prints one
Markdown row in the format of ``benchmarks/bench.py``; ``run()`` returns the numbers for it and
``cnn_epoch_row(threads=1)`` the row as a dict for the one benchmark report.

The goal (issue 16): an epoch in at most 1.0x PyTorch's time (first step: 1.3x), one thread.
``--profile`` times each layer's forward and backward on one batch of 32 (CPU time, median),
ours beside the same ``torch.nn`` module on the same input, and the conv layers' GFLOP/s
against a core's float32 AVX2 GEMM peak (~78 GFLOP/s here). ``--in-epoch`` times each of our
layers inside real training epochs instead (``fit`` as the epoch row runs it), and what is
left outside them (batches, flips, the loss, Adam, Python): a layer run in a loop on one batch
finds its arrays in the cache, inside an epoch it mostly does not.
"""

from __future__ import annotations

import argparse
import statistics
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

GOAL = 1.0  # nnscratch's epoch in at most PyTorch's time (issue 16, goal 2)
FIRST_STEP = 1.3  # the first milestone on the way
GEMM_PEAK_GFLOPS = 78.0  # one core, float32, AVX2 FMA (OpenBLAS's Haswell kernels)
LAYOUTS = ("channels_last", "nchw")


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


def nnscratch_side(X, y, recipe: dict, at_second_epoch=None):
    """(net, its initial parameters, run): ``run()`` -> (wall s, CPU s) of one epoch of the
    recipe's training, the second of a two-epoch ``fit``: the steady state of a training run
    (``fit`` releases the layers' work arrays at its end, so a run's first batch allocates
    them again; a real run has 80 epochs of that one first batch). ``at_second_epoch()``, if
    given, is called as the timed epoch starts."""
    from nnscratch.models.conv import ConvNetwork
    from nnscratch.train.callbacks import Callback

    net = ConvNetwork(
        recipe["architecture"], input_shape=X.shape[1:], seed=0, **recipe.get("network", {})
    )
    # without the end-of-epoch accuracy pass (the PyTorch loop has none either)
    options = {**recipe["fit"], "epochs": 2, "eval_train": False}
    options.pop("lr_schedule", None)  # a schedule changes nothing of an epoch's cost
    options.pop("schedule_options", None)
    init = {k: p.copy() for k, p in net.parameters.items()}
    seeds = iter(range(10**6))
    stamps: list[tuple[float, float]] = []

    class Stamp(Callback):
        def on_epoch_end(self, net, epoch, history):
            stamps.append((time.perf_counter(), time.process_time()))
            if epoch == 1 and at_second_epoch is not None:
                at_second_epoch()

    def run() -> tuple[float, float]:
        stamps.clear()
        net.fit(X, y, seed=next(seeds), callbacks=[Stamp()], **options)
        (wall_1, cpu_1), (wall_2, cpu_2) = stamps
        return wall_2 - wall_1, cpu_2 - cpu_1

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
                bias="b" in layer.params,  # none before batch norm, as in nnscratch
            )
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(init[f"W{layer.index}"].transpose(3, 2, 0, 1)))
                if conv.bias is not None:
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


def _to_layout(x, layout: str):
    import torch

    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


def torch_side(net, init, X, y, recipe: dict, layout: str = "channels_last"):
    import torch

    torch.manual_seed(0)
    model = torch_model(net, init)
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    model.eval()
    with torch.no_grad():  # the translation is exact: same logits from the same weights
        logits = model(torch.from_numpy(X[:4].transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(logits, net.forward(X[:4])[0], rtol=1e-3, atol=1e-4)
    fit = recipe["fit"]
    opt = torch.optim.Adam(model.parameters(), lr=fit["learning_rate"])
    loss_fn = torch.nn.BCEWithLogitsLoss()
    Xt = _to_layout(torch.from_numpy(X.transpose(0, 3, 1, 2).copy()), layout)  # (m, C, H, W)
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
            xb = _to_layout(xb, layout)
            opt.zero_grad()
            loss = loss_fn(model(xb), Yt[idx])
            loss.backward()
            opt.step()
            loss.item()  # the cost of each step, as fit records it
        return time.perf_counter() - start, time.process_time() - cpu

    return run


def run(X, y, *, repeats: int = 5, with_torch: bool = True, layout: str = "channels_last") -> dict:
    """One epoch of each side, median of ``repeats`` interleaved runs, in milliseconds:
    {"nnscratch": wall, "torch": wall, "cpu": {"nnscratch": ..., "torch": ...}, "workload":
    a description for the table} (``perf_report.Report.add_timing(ms.pop("workload"), ms)``
    takes it; the goal here is <= 2x PyTorch). The process CPU times are less disturbed by other
    processes than the wall-clock times on a loaded machine."""
    from nnscratch.models.conv import CAT_RECIPE

    net, init, nn_run = nnscratch_side(X, y, CAT_RECIPE)
    sides = {"nnscratch": nn_run}
    if with_torch:
        sides["torch"] = torch_side(net, init, X, y, CAT_RECIPE, layout)
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
        f" (PyTorch {layout})"
    )
    return out


def cnn_epoch_row(threads: int = 1, repeats: int = 5) -> dict:
    """Goal 2's row for the one benchmark report: one epoch of one recipe network, ours and
    PyTorch's (channels_last), median of ``repeats`` interleaved runs on ``threads`` threads.

    Returns {"name", "ours_ms", "torch_ms", "ratio", "goal", "notes"} (wall-clock medians;
    the CPU-time ratio, the first-step verdict and the load go into "notes")."""
    used = limit_threads(threads)
    X, y, source = load_images()
    ms = run(X, y, repeats=repeats)
    ours, theirs = ms["nnscratch"], ms["torch"]
    cpu_ratio = ms["cpu"]["nnscratch"] / ms["cpu"]["torch"]
    ratio = ours / theirs
    first = "met" if ratio <= FIRST_STEP else "not met"
    return {
        "name": ms["workload"],
        "ours_ms": ours,
        "torch_ms": theirs,
        "ratio": ratio,
        "goal": f"<= {GOAL}x PyTorch ({used} thread(s), float32)",
        "notes": (
            f"CPU-time ratio {cpu_ratio:.2f}x; first step <= {FIRST_STEP}x: {first}; "
            f"{source}; load average {load_average()}"
        ),
    }


# ---- per-layer profile ---------------------------------------------------------------------
def _cpu_ms(f, repeats: int) -> float:
    f()  # warm-up: first-touch allocations
    times = []
    for _ in range(repeats):
        start = time.process_time()
        f()
        times.append(time.process_time() - start)
    return 1e3 * statistics.median(times)


def _conv_flops(layer, in_shape, out_shape, first: bool) -> tuple[float, float]:
    """(forward, backward) floating-point operations of a Conv2D on one batch: 2 m H_o W_o K
    C_out for Z = cols . W, the same for dW, and again for dA_prev unless it is the first
    parameter layer (whose input gradient nobody needs)."""
    m = in_shape[0]
    kh, kw = layer.kernel_size
    gemm = 2.0 * m * out_shape[1] * out_shape[2] * kh * kw * layer.in_channels * layer.filters
    return gemm, gemm * (1 if first else 2)


def profile(X, repeats: int = 7, layout: str = "channels_last") -> list[dict]:
    """Per layer of one recipe network, on one batch of 32 training images: our forward and
    backward CPU times (ms), those of its ``torch.nn`` twin in ``layout``, and for the conv
    layers the GFLOP/s of ours. The first layer with parameters computes no input gradient
    on either side, as in training."""
    import torch

    from nnscratch.models.conv import CAT_RECIPE, ConvNetwork

    xb = X[:32]
    net = ConvNetwork(CAT_RECIPE["architecture"], input_shape=X.shape[1:], seed=0)
    init = {k: p.copy() for k, p in net.parameters.items()}
    model = torch_model(net, init)
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    model.train()
    twins = iter(model)
    rng = np.random.default_rng(0)
    first = next(i for i, layer in enumerate(net.layers) if layer.params)
    rows = []
    A = xb
    t = _to_layout(torch.from_numpy(xb.transpose(0, 3, 1, 2).copy()), layout)
    for position, layer in enumerate(net.layers):
        out, cache = layer.forward(A, True)
        dA = rng.standard_normal(out.shape).astype(np.float32)
        need = position > first
        ours_f = _cpu_ms(lambda: layer.forward(A, True), repeats)  # noqa: B023
        out, cache = layer.forward(A, True)  # backward takes the latest pass's cache
        # layers before the first with parameters never run backward in training
        runs_backward = position >= first
        ours_b = (
            _cpu_ms(lambda: layer.backward(dA, cache, need_input_grad=need), repeats)  # noqa: B023
            if runs_backward
            else 0.0
        )
        modules = [next(twins)]
        if type(layer).__name__ == "GlobalAveragePool":
            modules.append(next(twins))  # AdaptiveAvgPool2d + Flatten
        twin = torch.nn.Sequential(*modules)
        ti = t.detach().requires_grad_(need)
        with torch.no_grad():
            to = twin(ti)
        g = _to_layout(torch.randn_like(to), layout) if to.dim() == 4 else torch.randn_like(to)

        def torch_forward(twin=twin, ti=ti):
            with torch.enable_grad():
                twin(ti)

        def torch_both(twin=twin, ti=ti, g=g):
            twin(ti).backward(g)

        torch_f = _cpu_ms(torch_forward, repeats)
        torch_b = max(_cpu_ms(torch_both, repeats) - torch_f, 0.0) if runs_backward else 0.0
        row = {
            "layer": type(layer).__name__,
            "input": tuple(A.shape[1:]),
            "ours_fwd": ours_f,
            "ours_bwd": ours_b,
            "torch_fwd": torch_f,
            "torch_bwd": torch_b,
        }
        if type(layer).__name__ == "Conv2D":
            f_flops, b_flops = _conv_flops(layer, A.shape, out.shape, not need)
            row["gflops"] = (f_flops + b_flops) / (ours_f + ours_b) / 1e6
        rows.append(row)
        A, t = out, to.detach()
    return rows


def in_epoch_profile(X, y, epochs: int = 5) -> tuple[list[tuple[str, float, float]], float]:
    """Our CPU time per layer inside ``epochs`` training epochs of the recipe network (after
    one warm-up epoch), as [(layer, forward ms, backward ms) per epoch], and the epoch's total
    CPU ms. Each layer's ``forward`` and ``backward`` are wrapped by timers for the run (two
    clock reads per call) and unwrapped after it."""
    import collections

    from nnscratch.models.conv import CAT_RECIPE

    spent: dict[tuple[int, str], float] = collections.defaultdict(float)
    timing = {"on": False}  # on during each run's second epoch, the one run_once times

    def start_timing() -> None:
        timing["on"] = True

    net, _, run_once = nnscratch_side(X, y, CAT_RECIPE, at_second_epoch=start_timing)

    def timed(method, key):
        def call(*args, **kwargs):
            start = time.process_time()
            result = method(*args, **kwargs)
            if timing["on"]:
                spent[key] += time.process_time() - start
            return result

        return call

    for position, layer in enumerate(net.layers):
        layer.forward = timed(layer.forward, (position, "fwd"))
        layer.backward = timed(layer.backward, (position, "bwd"))
    try:
        run_once()  # warm-up
        spent.clear()
        total = 0.0
        for _ in range(epochs):
            timing["on"] = False
            total += run_once()[1]
    finally:
        for layer in net.layers:
            del layer.forward, layer.backward
    rows = [
        (
            type(layer).__name__,
            1e3 * spent[(position, "fwd")] / epochs,
            1e3 * spent[(position, "bwd")] / epochs,
        )
        for position, layer in enumerate(net.layers)
    ]
    return rows, 1e3 * total / epochs


def print_in_epoch(rows: list[tuple[str, float, float]], epoch_ms: float) -> None:
    print("| layer | fwd ms/epoch | bwd ms/epoch | share of the epoch |")
    print("| --- | --- | --- | --- |")
    for name, fwd, bwd in rows:
        print(f"| {name} | {fwd:.1f} | {bwd:.1f} | {(fwd + bwd) / epoch_ms:.1%} |")
    layers = sum(fwd + bwd for _, fwd, bwd in rows)
    outside = epoch_ms - layers
    print(f"| all layers | | | {layers:.0f} ms, {layers / epoch_ms:.1%} |")
    print(f"| outside the layers | | | {outside:.0f} ms, {outside / epoch_ms:.1%} |")
    print(f"| epoch | | | {epoch_ms:.0f} ms of CPU |")


def print_profile(rows: list[dict]) -> None:
    print(
        "| layer | input (H, W, C) | ours fwd | ours bwd | torch fwd | torch bwd | "
        "ours / torch | conv GFLOP/s (peak ~78) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    totals = dict.fromkeys(("ours_fwd", "ours_bwd", "torch_fwd", "torch_bwd"), 0.0)
    for r in rows:
        for k in totals:
            totals[k] += r[k]
        ours, theirs = r["ours_fwd"] + r["ours_bwd"], r["torch_fwd"] + r["torch_bwd"]
        ratio = f"{ours / theirs:.2f}x" if theirs > 0.05 else "-"
        gf = f"{r['gflops']:.0f}" if "gflops" in r else ""
        print(
            f"| {r['layer']} | {r['input']} | {r['ours_fwd']:.2f} | {r['ours_bwd']:.2f} | "
            f"{r['torch_fwd']:.2f} | {r['torch_bwd']:.2f} | {ratio} | {gf} |"
        )
    ours = totals["ours_fwd"] + totals["ours_bwd"]
    theirs = totals["torch_fwd"] + totals["torch_bwd"]
    print(
        f"| total | | {totals['ours_fwd']:.1f} | {totals['ours_bwd']:.1f} | "
        f"{totals['torch_fwd']:.1f} | {totals['torch_bwd']:.1f} | {ours / theirs:.2f}x | |"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="threads for BLAS and torch")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--quick", action="store_true", help="2 repetitions")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--torch-layout", choices=LAYOUTS, default="channels_last")
    parser.add_argument(
        "--profile", action="store_true", help="per-layer forward/backward times on one batch"
    )
    parser.add_argument(
        "--in-epoch", action="store_true", help="our per-layer times inside training epochs"
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1; got {args.threads}")
        set_thread_env(args.threads)  # before NumPy's BLAS starts its threads
    threads = limit_threads(args.threads)
    X, y, source = load_images()
    if args.in_epoch:
        print(f"<!-- {machine_info(threads)}; load average {load_average()}; {source} -->")
        print_in_epoch(*in_epoch_profile(X, y, epochs=2 if args.quick else args.repeats))
        return 0
    if args.profile:
        print(
            f"<!-- {machine_info(threads)}; load average {load_average()}; {source}; "
            f"ms of CPU time per batch of 32; PyTorch {args.torch_layout} -->"
        )
        print_profile(profile(X, repeats=3 if args.quick else 7, layout=args.torch_layout))
        return 0
    ms = run(
        X,
        y,
        repeats=2 if args.quick else args.repeats,
        with_torch=not args.no_torch,
        layout=args.torch_layout,
    )
    nn_ms, torch_ms = ms["nnscratch"], ms.get("torch")
    ratio = f"{nn_ms / torch_ms:.2f}x" if torch_ms else "n/a"
    verdict = f"<= {GOAL}x: " + ("met" if torch_ms and nn_ms / torch_ms <= GOAL else "not met")
    verdict += f"; first step <= {FIRST_STEP}x: " + (
        "met" if torch_ms and nn_ms / torch_ms <= FIRST_STEP else "not met"
    )
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
