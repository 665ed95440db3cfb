"""CloudFormation custom-resource handlers of our own, for settings CloudFormation has no
resource for. Each module is self-contained (stdlib + boto3 only) so its source can be
inlined into a template as `ZipFile` code."""

from __future__ import annotations

import ast
import inspect
from types import ModuleType


def inline_source(module: ModuleType) -> str:
    """The module's code without docstrings and comments (ast round trip), for `ZipFile`.

    The readable module stays the single source of truth (it is what the tests run);
    the template gets the same code, minified so it fits CloudFormation's 4,096-character
    ZipFile limit."""
    tree = ast.parse(inspect.getsource(module))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    # `from __future__` is meaningless in the Lambda runtime (3.12) and costs bytes
    tree.body = [n for n in tree.body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    code = ast.unparse(tree)
    # one space per indentation level: ast.unparse indents by four and keeps every string
    # literal on one line, so leading spaces are only ever indentation
    lines = [" " * ((len(line) - len(line.lstrip(" "))) // 4) + line.lstrip(" ") for line in code.splitlines()]
    return "\n".join(lines) + "\n"
