"""The package's shape: its import graph has no cycle (imports inside functions count, TYPE_CHECKING ones do not),
only aiperf.engine and the mock's facade import the compiled module, and every error derives from AiperfError."""
from __future__ import annotations

import ast
from pathlib import Path

import aiperf

PACKAGE = Path(aiperf.__file__).resolve().parent
NATIVE_IMPORTERS = {"aiperf.engine", "aiperf.mock.server"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package modules this module imports (a `from x import name` counts x.name when that is a module)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for orelse in child.orelse:
                    visit(orelse)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                found.add(source)
                found.update(f"{source}.{alias.name}" for alias in child.names)
            visit(child)

    visit(tree)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        imported = _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", modules)
        # Only explicit imports count: the implicit import of a module's parent packages is not in the tree.
        graph[name] = {m for m in imported if m not in (name, "aiperf")}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return components


def test_the_import_graph_has_no_cycle():
    assert _cycles(_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_facades_import_the_compiled_module():
    importers = {name for name, deps in _graph_with_native().items() if "aiperf._engine" in deps}
    assert importers <= NATIVE_IMPORTERS, sorted(importers - NATIVE_IMPORTERS)


def _graph_with_native() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(files) | {"aiperf._engine"}
    return {name: _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", modules)
            for name, path in files.items()}


def test_every_error_the_package_defines_derives_from_aiperf_error():
    import importlib
    import inspect
    import pkgutil

    from aiperf import _engine
    from aiperf.errors import AiperfError

    errors = {_engine.EngineError}
    for module_info in pkgutil.walk_packages(aiperf.__path__, "aiperf."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        errors.update(cls for _, cls in inspect.getmembers(module, inspect.isclass)
                      if issubclass(cls, BaseException) and cls.__module__.startswith("aiperf"))
    assert len(errors) >= 10
    assert [cls.__qualname__ for cls in errors if not issubclass(cls, AiperfError)] == []
