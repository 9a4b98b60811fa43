"""The shape of the package: module-level imports among `src/genzoo` modules form no cycle."""

import ast
from pathlib import Path

import genzoo

PACKAGE_ROOT = Path(genzoo.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base_parts = package.split(".")
    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
    return ".".join(base_parts + ([node.module] if node.module else []))


def _deferred_imports(tree: ast.Module, module: str, is_package: bool, lines: list[str]) -> set[str]:
    """Absolute names imported inside functions, except those marked `lazy` in a comment (on the import's line or
    the line above): an unmarked one must not close a cycle either, or it only dodges one."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            context = " ".join(lines[max(0, node.lineno - 2) : node.lineno]).lower()
            if "# lazy" in context:
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            else:
                base = _absolute(node, package)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _module_level_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Absolute names imported at module level (not in functions, classes' methods or `if TYPE_CHECKING:`)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, package)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)  # `from . import hub` imports a module
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try, ast.With)):
                visit(node.body)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "orelse", []))
                visit(getattr(node, "finalbody", []))
            elif isinstance(node, ast.ClassDef):
                visit(node.body)  # a class body runs at import time; its methods do not

    visit(tree.body)
    return found


def import_graph(deferred: bool = False) -> dict[str, set[str]]:
    """`{module: genzoo modules it imports at module level}` for every module of the genzoo package; with
    `deferred`, also those imported inside functions without a `lazy` mark."""
    files = {_module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        text = path.read_text()
        tree, is_package = ast.parse(text), path.name == "__init__.py"
        imported = _module_level_imports(tree, module, is_package)
        if deferred:
            imported |= _deferred_imports(tree, module, is_package, text.splitlines())
        edges = set()
        for name in imported:
            # `from .metrics import x` imports genzoo.metrics (its __init__) and maybe the submodule genzoo.metrics.x
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                edges.add(name)
            # Importing a submodule runs its parent packages' __init__ first.
            parent = name.rpartition(".")[0]
            while parent and parent != "genzoo":
                if parent in files and parent != module and not module.startswith(parent + "."):
                    edges.add(parent)
                parent = parent.rpartition(".")[0]
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as `[a, b, ..., a]`, or `None`."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_imports():
    graph = import_graph()
    assert "genzoo.errors" in graph["genzoo.pipeline"]
    assert "genzoo.hookspecs" in graph["genzoo.plugins"]


def test_find_cycle_reports_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_type_checking_imports_and_function_imports_are_ignored():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import X\n"
        "def f():\n    from .b import Y\nfrom .c import Z\n"
    )
    assert _module_level_imports(tree, "genzoo.m", False) == {
        "typing",
        "typing.TYPE_CHECKING",
        "genzoo.c",
        "genzoo.c.Z",
    }


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "module-level import cycle: " + " -> ".join(cycle)


def test_no_import_inside_a_function_dodges_a_cycle():
    """An import placed in a function only to dodge a cycle would close one here; imports deferred for start-up
    speed say so with a `# lazy` comment."""
    cycle = find_cycle(import_graph(deferred=True))
    assert cycle is None, "cycle through an unmarked in-function import: " + " -> ".join(cycle)


def _every_import_graph() -> dict[str, set[str]]:
    """The import graph with every import counted: module level, `if TYPE_CHECKING:`, and inside functions, `# lazy`
    ones included. A package's `__init__` importing its own submodules (to re-export their names) is left out: that
    is the one edge a reader expects to point down into a package that its submodules point up to."""
    files = {_module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree, is_package = ast.parse(path.read_text()), path.name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, package)
                names = {base} | {f"{base}.{alias.name}" for alias in node.names}
            else:
                continue
            for name in names:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                if name and name != module and not (is_package and name.startswith(module + ".")):
                    edges.add(name)
        graph[module] = edges
    return graph


def test_no_import_circle_of_any_kind():
    """No circle even through `TYPE_CHECKING` or in-function imports (issue 19): those hide a circle from the
    interpreter, not from a reader, who still has to know both modules to change either."""
    cycle = find_cycle(_every_import_graph())
    assert cycle is None, "import circle (counting TYPE_CHECKING and in-function imports): " + " -> ".join(cycle)


def _function_lengths(root: Path) -> dict[str, int]:
    """`{"file.py:function": lines}` for every function under `root`, its docstring not counted."""
    lengths = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            lines = node.end_lineno - node.lineno + 1
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines -= first.end_lineno - first.lineno + 1
            lengths[f"{path.relative_to(root)}:{node.name}"] = lines
    return lengths


def test_function_lengths_counts_code_not_docstrings(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(5))
    (tmp_path / "m.py").write_text(f'def f():\n    """One\n    two."""\n{body}\n')
    assert _function_lengths(tmp_path) == {"m.py:f": 6}


def test_no_core_function_is_over_100_lines():
    """A core function a reader cannot hold in mind at once is several jobs (issue 19: the trainer's main function
    was 242 lines); split it into named steps."""
    too_long = {name: lines for name, lines in _function_lengths(PACKAGE_ROOT).items() if lines > 100}
    assert too_long == {}, f"core functions over 100 lines (docstrings not counted): {too_long}"


def _string_constants(tree: ast.Module) -> set[str]:
    """String literals of a module that are neither docstrings nor the names in `__all__`."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skipped.add(id(first.value))
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            skipped |= {id(item) for item in ast.walk(node.value)}
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
    }


def test_task_names_are_written_only_in_the_table():
    """A task name in a string literal outside `genzoo/tasks/` is a second list to keep in step with the table
    (issue 19 counted four: the demo's, the tester mixins', the pipeline's and the CLI's)."""
    from genzoo.registry import METRIC_APPLIES_TO, commands, tasks

    names = set()
    for task in tasks().entries.values():
        names |= {task.name, *task.aliases}
    # The same words in other tables are their own names: the command `genzoo restore`, a metric for models with
    # `codes`. `__all__` lists Python names (a module re-exporting `traverse`), which are not written as tasks.
    names -= {command.name for command in commands().entries.values()} | set(METRIC_APPLIES_TO)
    found = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        if path.is_relative_to(PACKAGE_ROOT / "tasks"):
            continue
        written = _string_constants(ast.parse(path.read_text())) & names
        if written:
            found[str(path.relative_to(PACKAGE_ROOT))] = sorted(written)
    assert found == {}, f"task names written outside genzoo/tasks/: {found}"
