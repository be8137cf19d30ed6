"""Every ```python block of the tutorials (docs/tutorials/*.md) runs.

The blocks of one page run in order in one namespace, as a reader pastes them into one
session. A page with a block preceded by the line ``<!-- docs-test: slow -->`` (it trains on
the cat data, or for long) runs in the slow tier, the whole page, since its blocks share one
namespace. Figures go to a non-interactive backend, and the
blocks run in a temporary directory, so that files they write land there.

A slow block may be shortened by ``SHORTEN`` (page stem -> (text, replacement) pairs), e.g.
fewer epochs: what is checked is that the code runs as written, not the figures it reaches.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
FENCE = re.compile(
    r"^(?P<marker><!-- docs-test: slow -->\n)?```python\n(?P<code>.*?)^```$", re.M | re.S
)
SLOW_MARKER = "<!-- docs-test: slow -->"
#: the names language model trains 40 epochs (about 10 s each on one core): two are enough here
SHORTEN = {"rnn": [("epochs=40", "epochs=2")]}


def blocks(page: Path) -> list[tuple[str, bool]]:
    """(code, slow) of every ```python block of ``page``, in order."""
    text = page.read_text(encoding="utf-8")
    return [(m["code"], bool(m["marker"])) for m in FENCE.finditer(text)]


def _params():
    for page in PAGES:
        found = blocks(page)
        slow = any(is_slow for _, is_slow in found)
        marks = [pytest.mark.slow] if slow else []
        yield pytest.param(page, id=page.stem, marks=marks)


@pytest.mark.parametrize("page", list(_params()))
def test_the_pages_python_blocks_run(page, tmp_path, monkeypatch):
    found = blocks(page)
    assert found, f"{page.name} has no ```python block"
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for i, (code, _) in enumerate(found, 1):
        for text, replacement in SHORTEN.get(page.stem, []):
            code = code.replace(text, replacement)
        exec(compile(code, f"{page.name}, block {i}", "exec"), namespace)  # noqa: S102


def test_every_tutorial_page_has_runnable_code():
    assert len(PAGES) >= 7
    for page in PAGES:
        assert blocks(page), f"{page.name} has no ```python block"


def test_the_extractor_finds_blocks_and_slow_marks(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n\n" + SLOW_MARKER + "\n```python\ny = 2\n```\n"
        "```bash\nls\n```\n",
        encoding="utf-8",
    )
    assert blocks(page) == [("x = 1\n", False), ("y = 2\n", True)]


def test_the_cli_reference_renders_every_command():
    import importlib.util

    from nnscratch.app.cli import COMMANDS

    path = ROOT / "docs" / "hooks" / "cli_reference.py"
    spec = importlib.util.spec_from_file_location("cli_reference", path)
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = hook.on_page_markdown(f"# CLI\n\n{hook.MARKER}\n", None, None, None)
    assert hook.MARKER not in page
    for name in COMMANDS:
        assert f"## `nnscratch {name}`" in page and f"usage: nnscratch {name}" in page
    assert "### `nnscratch plot activations`" in page  # sub-commands get their own section
