"""The two recurrent tasks of issue 18, each scored three ways: nnscratch, the classical
baselines, and a PyTorch twin of the same size trained the same way.

    python benchmarks/rnn_tasks.py                 # both tasks, ~3 min on one core
    python benchmarks/rnn_tasks.py --task names    # or: --task sunspots

The twin starts from a copy of nnscratch's initial weights and trains with the same optimizer
(Adam, same learning rate, betas and epsilon), batch size, epochs, gradient clipping
(``clip_grad_norm_``) and early stopping on the same validation data; only the order of the
batches differs (each draws its own shuffles from the seed). Both run on one thread, float32.
Results go to benchmarks/results/rnn_tasks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
import char_lm  # noqa: E402
import sunspots  # noqa: E402

torch.set_num_threads(1)
RESULTS = ROOT / "benchmarks" / "results" / "rnn_tasks.md"


def twin_of(net) -> tuple[torch.nn.ModuleList, dict]:
    """PyTorch modules with copies of ``net``'s parameters, and torch name -> our name."""
    modules, names = torch.nn.ModuleList(), {}
    for layer in net.layers:
        kind = type(layer).__name__
        inner = getattr(layer, "layer", layer)
        if kind == "Embedding":
            module = torch.nn.Embedding(layer.vocab_size, layer.dim)
            mapping = {"weight": "W"}
        elif kind == "LSTM":
            module = torch.nn.LSTM(layer.n_in, layer.n_hidden, batch_first=True)
            mapping = {f"{k}_l0": k for k in layer.params}
        elif type(inner).__name__ == "Dense":
            module = torch.nn.Linear(inner.n_in, inner.n_out)
            mapping = {"weight": "W", "bias": "b"}
        else:
            raise ValueError(f"no twin for {kind}")
        with torch.no_grad():
            for theirs, ours in mapping.items():
                getattr(module, theirs).copy_(
                    torch.from_numpy(net.parameters[f"{ours}{layer.index}"])
                )
        modules.append(module)
        names.update({f"{len(modules) - 1}.{t}": f"{o}{layer.index}" for t, o in mapping.items()})
    return modules, names


def run_twin(modules, X: torch.Tensor, per_step: bool) -> torch.Tensor:
    """The twin's logits: per step (m, T, V), or from the last state (m, n_outputs)."""
    A = X
    for module in modules:
        if isinstance(module, torch.nn.Embedding):
            A = module(A.long())
        elif isinstance(module, torch.nn.LSTM):
            out, (h, _) = module(A)
            A = out if per_step else h[0]
        else:
            A = module(A)
    return A


def train_twin(net, loss_fn, train, val, fit: dict, seed: int):
    """Train a twin of ``net`` as ``net.fit(**fit)`` would; returns (modules, epochs run,
    seconds)."""
    modules, _ = twin_of(net)
    per_step = net.loss.per_step
    params = list(modules.parameters())
    opt = torch.optim.Adam(params, lr=fit["learning_rate"])
    clip = fit["optimizer_options"]["clip_norm"]
    X, Y = (torch.as_tensor(a) for a in train)
    Xv, Yv = (torch.as_tensor(a) for a in val)
    X = X if X.dtype == torch.int64 else X.float()
    Xv = Xv if Xv.dtype == torch.int64 else Xv.float()
    rng = np.random.default_rng(seed)
    best, best_state, waited, epochs = float("inf"), None, 0, 0
    start = time.perf_counter()
    for _ in range(fit["epochs"]):
        epochs += 1
        order = torch.from_numpy(rng.permutation(X.shape[0]))
        for s in range(0, X.shape[0], fit["batch_size"]):
            idx = order[s : s + fit["batch_size"]]
            loss = loss_fn(run_twin(modules, X[idx], per_step), Y[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
        with torch.no_grad():
            val_loss = float(loss_fn(run_twin(modules, Xv, per_step), Yv))
        if val_loss < best:
            best, waited = val_loss, 0
            best_state = {k: v.clone() for k, v in modules.state_dict().items()}
        else:
            waited += 1
            if waited >= fit["patience"]:
                break
    modules.load_state_dict(best_state)
    return modules, epochs, time.perf_counter() - start


def lm_loss(Z, Y):
    return torch.nn.functional.cross_entropy(
        Z.reshape(-1, Z.shape[-1]), Y.reshape(-1).long(), ignore_index=-1
    )


def half_mse(Z, Y):
    return 0.5 * torch.mean((Z[:, 0] - Y.float()) ** 2)


def names_task(seed: int) -> list[str]:
    data = char_lm.prepare(seed)
    lines = ["## Character-level language model (first names)", ""]
    lines.append(
        f"{len(data['train'][0])} / {len(data['val'][0])} / {len(data['test'][0])} names "
        f"(train / validation / test), vocabulary {len(data['vocab'])}, "
        f"`{char_lm.ARCHITECTURE}`, {char_lm.FIT}"
    )
    lines += ["", "| model | test perplexity | epochs | training time |", "|---|---|---|---|"]
    for name, ppl in char_lm.baselines(data).items():
        lines.append(f"| {name} (add-k, k chosen on validation) | {ppl:.2f} | | |")
    start = time.perf_counter()
    net, history = char_lm.train(data, seed)
    ours_time = time.perf_counter() - start
    twin_net = char_lm.build(data, seed)  # the same initial weights
    modules, epochs, twin_time = train_twin(
        twin_net, lm_loss, data["train"], data["val"], char_lm.FIT, seed
    )
    with torch.no_grad():
        Xt, Yt = (torch.as_tensor(a) for a in data["test"])
        twin_ppl = float(torch.exp(lm_loss(run_twin(modules, Xt, True), Yt)))
    lines.append(
        f"| nnscratch LSTM | {net.perplexity(*data['test']):.2f} | {history.epochs} | "
        f"{ours_time:.0f} s |"
    )
    lines.append(f"| PyTorch twin | {twin_ppl:.2f} | {epochs} | {twin_time:.0f} s |")
    vocab = data["vocab"]
    lines += ["", "Samples (temperature 0.8, seed 0):", ""]
    lines.append(", ".join(vocab.decode(s) for s in net.sample(20, 0.8, seed=0)))
    return lines


def sunspots_task(seeds: int) -> list[str]:
    data = sunspots.prepare()
    lines = ["## Sunspot forecasting (statsmodels' yearly sunspots)", ""]
    lines.append(
        f"{len(data['train'][1])} / {len(data['val'][1])} / {len(data['test'][1])} windows of "
        f"{sunspots.WINDOW} years (targets before 1920 / 1920-1964 / 1965-2008), "
        f"`{sunspots.ARCHITECTURE}`, {sunspots.FIT}"
    )
    lines += ["", "| model | test RMSE (mean of seeds) | per seed |", "|---|---|---|"]
    for name, error in sunspots.baselines(data).items():
        lines.append(f"| {name} | {error:.2f} | |")
    ours, twin = [], []
    for seed in range(seeds):
        net = sunspots.train(data, seed)
        ours.append(sunspots.rmse(data, "test", net.predict(data["test"][0])))
        modules, _, _ = train_twin(
            sunspots.build(seed), half_mse, data["train"], data["val"], sunspots.FIT, seed
        )
        with torch.no_grad():
            Z = run_twin(modules, torch.as_tensor(data["test"][0]).float(), False)
        twin.append(sunspots.rmse(data, "test", Z[:, 0].numpy()))
    for name, errors in (("nnscratch LSTM", ours), ("PyTorch twin", twin)):
        per_seed = ", ".join(f"{e:.2f}" for e in errors)
        lines.append(f"| {name} | {np.mean(errors):.2f} | {per_seed} |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("names", "sunspots", "both"), default="both")
    parser.add_argument("--seed", type=int, default=0, help="the language model's seed")
    parser.add_argument("--seeds", type=int, default=3, help="sunspot networks per library")
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown file to write")
    parser.add_argument("--no-output", dest="output", action="store_const", const=None)
    args = parser.parse_args(argv)
    lines = ["# Recurrent tasks: nnscratch, baselines and PyTorch twins", ""]
    lines.append(
        f"`python benchmarks/rnn_tasks.py`, one thread, float32 (torch {torch.__version__})"
    )
    if args.task in ("names", "both"):
        lines += ["", *names_task(args.seed)]
    if args.task in ("sunspots", "both"):
        lines += ["", *sunspots_task(args.seeds)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)


if __name__ == "__main__":
    main()
