"""A stub for an exercise whose answer has no stored `workbook.stub`: the answer's shape only."""

from __future__ import annotations

import ast
import copy
import re

STUB_BODY = 'raise NotImplementedError("your code here")'


def _stub_function(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.stmt:
    """The same decorators, signature and docstring; the body says "your code here"."""
    stub = copy.deepcopy(node)
    docstring = ast.get_docstring(node, clean=False)
    body: list[ast.stmt] = [ast.Expr(ast.Constant(docstring))] if docstring is not None else []
    body.append(ast.parse(STUB_BODY).body[0])
    stub.body = body
    return stub


def _stub_class(node: ast.ClassDef) -> ast.stmt:
    """The class with its bases and docstring; methods stubbed (a class body must not raise)."""
    stub = copy.deepcopy(node)
    body: list[ast.stmt] = []
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            body.append(_stub_function(item))
        elif isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant) and not body:
            body.append(item)  # the docstring
        elif isinstance(item, ast.Assign | ast.AnnAssign):
            body.append(_stub_assignment(item))
    stub.body = body or [ast.Expr(ast.Constant(...))]
    return stub


def _stub_assignment(node: ast.Assign | ast.AnnAssign) -> ast.stmt:
    """`name = ...`: the learner supplies the value."""
    stub = copy.deepcopy(node)
    stub.value = ast.Constant(...)
    return stub


def _kind(node: ast.stmt) -> str:
    """import, def or assign: how a stub's statements are grouped."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return "import"
    return "assign" if isinstance(node, ast.Assign | ast.AnnAssign) else "def"


def fallback_stub(source: str) -> str:
    """A stub for an answer whose cell has no `workbook.stub`: imports, signatures, `...`."""
    tree = ast.parse(source)
    kept: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            kept.append(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kept.append(_stub_function(node))
        elif isinstance(node, ast.ClassDef):
            kept.append(_stub_class(node))
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            kept.append(_stub_assignment(node))
    parts: list[str] = []
    for previous, node in zip([None, *kept], kept, strict=False):
        if previous is not None and (_kind(previous) != _kind(node) or _kind(node) == "def"):
            parts.append("\n")  # two blank lines around definitions and between groups
        parts.append(ast.unparse(node))
    text = "\n".join(parts) + "\n" if parts else "...\n"
    return re.sub(r"^(class [^\n]*:\n)\n", r"\1", text, flags=re.M)  # unparse's blank line
