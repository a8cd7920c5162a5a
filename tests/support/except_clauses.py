"""Every `except` clause names exception classes that exist on the running Python.

Python evaluates an except clause's expression only when an exception is already being handled.
If that expression fails (`except tarfile.FilterError` on Python 3.11.2, where the name does not
exist), the AttributeError replaces the real error, and the user sees the wrong message. This
check imports each module and evaluates each clause's names the way the clause would: module
globals, imports made inside the enclosing function, builtins. A clause it cannot evaluate
statically (`except self.errors`) is reported too, so no clause escapes the check.

Standard library only: the image tests run it with each image's own Python.

    python except_clauses.py ROOT PACKAGE [PACKAGE ...]   # exit 1 and one line per bad clause
"""

from __future__ import annotations

import ast
import builtins
import importlib
import sys
from pathlib import Path


class Unresolvable(LookupError):
    """The clause names something only known at run time (a local variable, an attribute of self)."""


def _dotted(node: ast.expr) -> list[str] | None:
    """`a.b.C` as ["a", "b", "C"]; None for anything that is not a plain dotted name."""
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(names)]


def _local_imports(function: ast.AST | None) -> dict[str, ast.stmt]:
    """Names bound by import statements inside the function that holds the clause."""
    bound: dict[str, ast.stmt] = {}
    for node in ast.walk(function) if function is not None else ():
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound[(alias.asname or alias.name).split(".")[0]] = node
    return bound


def _resolve(names: list[str], module, local_imports: dict[str, ast.stmt]):
    root, *attrs = names
    if root in local_imports:
        scope: dict = {}
        exec(compile(ast.Module([local_imports[root]], []), module.__name__, "exec"), dict(vars(module)), scope)
        value = scope[root]
    elif hasattr(module, root):
        value = getattr(module, root)
    elif hasattr(builtins, root):
        value = getattr(builtins, root)
    else:
        raise Unresolvable(f"{root!r} is not a module global, an import in the function, or a builtin")
    for attr in attrs:
        value = getattr(value, attr)
    return value


def _handlers(tree: ast.AST):
    """(except handler, the function that holds it or None) for every clause in the module."""
    def visit(node: ast.AST, function: ast.AST | None):
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.ExceptHandler) and child.type is not None:
                yield child, function
            yield from visit(child, inner)
    yield from visit(tree, None)


def check_module(name: str, path: Path) -> list[str]:
    """One line per except clause in the module that does not name existing exception classes."""
    module = importlib.import_module(name)
    problems = []
    for handler, function in _handlers(ast.parse(path.read_text(), str(path))):
        where = f"{path}:{handler.lineno}"
        expr = handler.type
        items = expr.elts if isinstance(expr, ast.Tuple) else [expr]
        for item in items:
            names = _dotted(item)
            try:
                if names is None:
                    raise Unresolvable("not a dotted name")
                value = _resolve(names, module, _local_imports(function))
            except Unresolvable as exc:
                problems.append(f"{where}: `except {ast.unparse(item)}` cannot be checked ({exc}): "
                                "name a class defined or imported at module level")
                continue
            except Exception as exc:  # noqa: BLE001 - the finding is exactly that evaluation fails
                problems.append(f"{where}: `except {'.'.join(names)}` fails on Python "
                                f"{sys.version.split()[0]}: {type(exc).__name__}: {exc}")
                continue
            classes = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
                problems.append(f"{where}: `except {'.'.join(names)}` is {value!r}, not exception classes")
    return problems


def check_packages(root: Path, packages: list[str]) -> list[str]:
    """Check every module of the packages, found under root (root goes on sys.path)."""
    sys.path.insert(0, str(root))
    problems = []
    for package in packages:
        base = root / package.replace(".", "/")
        if not (base / "__init__.py").is_file():
            raise FileNotFoundError(f"no package {package} under {root}")
        for path in sorted(base.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            problems += check_module(name, path)
    return problems


def main(argv: list[str]) -> int:
    root, *packages = argv
    problems = check_packages(Path(root), packages)
    for line in problems:
        print(line)
    print(f"except clauses: {len(problems)} problem(s) in {', '.join(packages)} on Python {sys.version.split()[0]}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
