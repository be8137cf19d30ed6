"""Seconds per training epoch of the language-model task, nnscratch against PyTorch CPU: one
thread each, float32, the same model (``examples/char_lm.py``: embed32-lstm128 on 4,130
names of 12 steps), batch size, Adam and gradient clipping; no validation pass.

    python benchmarks/bench_rnn.py              # 5 epochs each, alternating; prints the ratio
    python benchmarks/bench_rnn.py --epochs 9

Epochs of the two libraries alternate, so that a load that comes and goes on a shared
machine slows both; the ratio is of the medians. Issue 18's goal: at most 1.5.
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
sys.path.insert(0, str(ROOT / "benchmarks"))
import char_lm  # noqa: E402
from rnn_tasks import lm_loss, run_twin, twin_of  # noqa: E402

torch.set_num_threads(1)
GOAL = 1.5


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per library")
    args = parser.parse_args(argv)
    data = char_lm.prepare(0)
    X, y = data["train"]
    B, lr, clip = (char_lm.FIT[k] for k in ("batch_size", "learning_rate", "optimizer_options"))
    net = char_lm.build(data, 0)
    modules, _ = twin_of(net)
    params = list(modules.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    tX, ty = torch.as_tensor(X), torch.as_tensor(y)
    rng = np.random.default_rng(0)

    def ours() -> None:
        net.fit(
            X, y, optimizer="adam", learning_rate=lr, batch_size=B, epochs=1, optimizer_options=clip
        )

    def theirs() -> None:
        order = torch.from_numpy(rng.permutation(X.shape[0]))
        for s in range(0, X.shape[0], B):
            idx = order[s : s + B]
            loss = lm_loss(run_twin(modules, tX[idx], True), ty[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, clip["clip_norm"])
            opt.step()

    ours(), theirs()  # warm-up
    times: dict[str, list[float]] = {"nnscratch": [], "pytorch": []}
    for _ in range(args.epochs):
        for name, epoch in (("nnscratch", ours), ("pytorch", theirs)):
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    median = {name: float(np.median(t)) for name, t in times.items()}
    ratio = median["nnscratch"] / median["pytorch"]
    print(f"LSTM language model, {X.shape[0]} names x {X.shape[1]} steps, batch {B}, 1 thread:")
    for name, t in times.items():
        runs = ", ".join(f"{v:.2f}" for v in t)
        print(f"  {name:<10} {median[name]:.2f} s per epoch (runs: {runs})")
    print(f"  ratio nnscratch / pytorch: {ratio:.2f} (goal: at most {GOAL})")
    return ratio


if __name__ == "__main__":
    main()
