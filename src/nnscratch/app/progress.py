"""Training progress for the command line: a tqdm bar with the live cost on a terminal, and the
article's "Cost after iteration N: C" line every ``every`` iterations (plain lines only when
the output is not a terminal, so logs and pipes stay readable)."""

from __future__ import annotations

import os
import shutil
import sys

from nnscratch.train.callbacks import Callback


class ProgressBar(Callback):
    """Shows training progress; one instance may watch several runs (an ensemble's members).

    Args:
        total: iterations per run, when known (None: a bar without an end).
        runs: how many runs (members) will train one after the other; shown as "net k/K".
        every: print the cost line every ``every`` iterations (0 or None: never).
        file: where to write (default sys.stdout).
        bar: force the bar on or off; default: on when ``file`` is a terminal.
    """

    def __init__(self, total=None, *, runs: int = 1, every: int | None = 100, file=None, bar=None):
        self.total = total
        self.runs = runs
        self.every = every
        self.file = file if file is not None else sys.stdout
        self.bar_enabled = _isatty(self.file) if bar is None else bool(bar)
        self.run = 0
        self._bar = None

    def _write(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=self.file)
        else:
            print(line, file=self.file, flush=True)

    def on_train_begin(self, net, history) -> None:
        self.run += 1
        if self.runs > 1:
            self._write(f"Training network {self.run}/{self.runs}")
        if self.bar_enabled:
            from tqdm import tqdm

            desc = f"net {self.run}/{self.runs}" if self.runs > 1 else "training"
            self._bar = tqdm(
                total=self.total,
                desc=desc,
                unit="it",
                file=self.file,
                leave=False,
                **_size(self.file),
            )

    def on_iteration_end(self, net, iteration, cost, history):
        if self._bar is not None:
            self._bar.update(1)
            if iteration % 10 == 0 or iteration == 1:
                self._bar.set_postfix(cost=f"{cost:.4f}", refresh=False)
        if self.every and iteration % self.every == 0:
            self._write(f"Cost after iteration {iteration}: {cost:.6f}")
        return None

    def on_train_end(self, net, history) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _size(file) -> dict:
    """tqdm's ncols / nrows when the terminal reports none (0 x 0, as a pseudo-terminal without
    a window size does: tqdm would then draw nothing at all): $COLUMNS / $LINES or 80 x 24.
    Empty when the terminal knows its size (tqdm asks it)."""
    try:
        size = os.get_terminal_size(file.fileno())
    except (AttributeError, ValueError, OSError):
        size = os.terminal_size((0, 0))
    fallback = shutil.get_terminal_size((80, 24))  # $COLUMNS, $LINES, else 80 x 24
    sizes = {}
    if size.columns <= 0:
        sizes["ncols"] = fallback.columns or 80
    if size.lines <= 0:
        sizes["nrows"] = fallback.lines or 24
    return sizes


def _isatty(file) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False
