"""Parameters of aiperf._engine's functions and methods against python/aiperf/_engine.pyi (make stubtest).

stubtest checks that every name exists on both sides, but pybind11 functions carry no signature it can read. Their
docstrings do ("name(a: T, b: T = 1) -> R"): this compares each one's parameter names, order and which have
defaults with the stub's.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def runtime_parameters(name: str, doc: str | None) -> list[tuple[str, bool]] | None:
    """(name, has a default) per parameter from a pybind11 docstring, or None when it has no single signature."""
    first = (doc or "").splitlines()[0] if doc else ""
    if not first.startswith(name + "("):
        return None  # overloaded, or not a pybind11 function
    depth, end = 0, -1
    for i in range(len(name), len(first)):
        depth += first[i] in "([{"
        depth -= first[i] in ")]}"
        if depth == 0:
            end = i
            break
    params = []
    for part in _split_top_level(first[len(name) + 1:end]):
        param_name = part.split(":", 1)[0].split("=", 1)[0].strip()
        if param_name in ("self", "/", "*"):
            continue
        params.append((param_name, "=" in part.split(":", 1)[-1] or "=" in part.split(":", 1)[0]))
    return params


def stub_parameters(function: ast.FunctionDef) -> list[tuple[str, bool]]:
    args = function.args.posonlyargs + function.args.args
    with_default = len(function.args.defaults)
    params = [(arg.arg, i >= len(args) - with_default) for i, arg in enumerate(args)]
    params += [(arg.arg, default is not None) for arg, default in zip(function.args.kwonlyargs,
                                                                       function.args.kw_defaults)]
    return [param for param in params if param[0] != "self"]


def main() -> int:
    import aiperf._engine as engine

    stub = ast.parse(Path(sys.argv[1] if len(sys.argv) > 1 else "python/aiperf/_engine.pyi").read_text())
    problems = []
    checked = 0

    def compare(qualified: str, runtime: object, function: ast.FunctionDef) -> None:
        nonlocal checked
        expected = runtime_parameters(function.name, getattr(runtime, "__doc__", None))
        if expected is None:
            return
        checked += 1
        found = stub_parameters(function)
        if found != expected:
            problems.append(f"{qualified}: runtime {expected}, stub {found}")

    for node in stub.body:
        if isinstance(node, ast.FunctionDef) and hasattr(engine, node.name):
            compare(node.name, getattr(engine, node.name), node)
        elif isinstance(node, ast.ClassDef) and hasattr(engine, node.name):
            cls = getattr(engine, node.name)
            for member in node.body:
                if isinstance(member, ast.FunctionDef) and member.name in vars(cls):
                    if any(isinstance(d, ast.Name) and d.id == "property" for d in member.decorator_list):
                        continue
                    compare(f"{node.name}.{member.name}", vars(cls)[member.name], member)
    for problem in problems:
        print(f"_engine.pyi: {problem}", file=sys.stderr)
    print(f"check_engine_stub: {checked} signatures compared, {len(problems)} differ")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
