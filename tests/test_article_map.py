"""README.md's "The article in the code" table names a real file and a real definition for
every function of the article."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## The article in the code"
ARTICLE_FUNCTIONS = {
    "initialize_parameters",
    "linear_forward",
    "linear_activation_forward",
    "L_model_forward",
    "compute_cost",
    "linear_backward",
    "sigmoid_backward",
    "relu_backward",
    "linear_activation_backward",
    "L_model_backward",
    "update_parameters",
    "L_layer_model",
    "accuracy",
}


def _table_rows() -> list[tuple[str, str, str]]:
    """(article function, file, name) of every row of the section's table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(SECTION + "\n") == 1, f"README.md needs one section {SECTION!r}"
    body = text.split(SECTION + "\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in body.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "article" or set(cells[0]) <= set("- "):
            continue  # header, separator
        assert len(cells) == 3, f"a row of the table must have 3 cells: {line!r}"
        assert all(re.fullmatch(r"`[^`]+`", c) for c in cells), f"cells in backticks: {line!r}"
        rows.append(tuple(c.strip("`") for c in cells))
    return rows


ROWS = _table_rows()


def _defined(tree: ast.Module, dotted: str) -> bool:
    """True when the module defines ``dotted``: a top-level function, class or assignment,
    or ``Class.member`` for a method or class attribute defined in that class's body."""
    scope: list[ast.stmt] = tree.body
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        found = None
        for node in scope:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            else:
                names = []
            if part in names:
                found = node
        if found is None:
            return False
        if i < len(parts) - 1:
            if not isinstance(found, ast.ClassDef):
                return False
            scope = found.body
    return True


def test_the_table_covers_every_article_function():
    assert {row[0] for row in ROWS} == ARTICLE_FUNCTIONS


@pytest.mark.parametrize("article, path, name", ROWS, ids=[f"{r[0]}-{r[2]}" for r in ROWS])
def test_each_row_names_a_file_that_defines_the_name(article, path, name):
    file = ROOT / path
    assert file.is_file(), f"{article}: {path} does not exist"
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    assert _defined(tree, name), f"{article}: {path} defines no {name}"


def test_the_check_finds_missing_names():
    tree = ast.parse("class A:\n    def f(self): pass\nx = 1\ndef g(): pass\n")
    assert _defined(tree, "A.f") and _defined(tree, "x") and _defined(tree, "g")
    assert not _defined(tree, "A.g") and not _defined(tree, "f") and not _defined(tree, "g.x")
