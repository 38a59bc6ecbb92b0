"""The layers ARCHITECTURE.md writes down hold in the code: every module is in one layer, imports only its own
layer or lower ones, and no imports go round in a circle."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mock_server", "contract_tests")


def _layers() -> dict[str, tuple[int, str]]:
    """module -> (layer number, layer name), from ARCHITECTURE.md's table."""
    layers = {}
    for number, name, modules in re.findall(r"^\| (\d+) (\w+) \|[^|]*\| (.*) \|$",
                                            (ROOT / "ARCHITECTURE.md").read_text(), re.M):
        for module in re.findall(r"`([\w.]+)`", modules):
            assert module not in layers, f"ARCHITECTURE.md puts {module} in two layers"
            layers[module] = (int(number), name)
    return layers


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}


class _Imports(ast.NodeVisitor):
    """Every module a file imports, at any depth, those made only for type checking (`if TYPE_CHECKING:`)
    included: a type a module names is a module it depends on."""

    def __init__(self) -> None:
        self.found: list[tuple[str, int]] = []

    def visit_Import(self, node: ast.Import) -> None:
        self.found += [(alias.name, node.lineno) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module:
            self.found += [(node.module, node.lineno)]
            self.found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]


def _imports(modules: dict[str, Path]) -> dict[str, list[tuple[str, int]]]:
    """module -> the project modules it imports, with the line of each import."""
    graph = {}
    for module, path in modules.items():
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text()))
        graph[module] = [(name, line) for name, line in visitor.found if name in modules and name != module]
    return graph


def test_every_module_is_in_one_layer_and_every_layer_entry_exists():
    modules, layers = _modules(), _layers()
    assert sorted(set(modules) - set(layers)) == [], "modules ARCHITECTURE.md's layers leave out"
    assert sorted(set(layers) - set(modules)) == [], "ARCHITECTURE.md names modules that do not exist"


def test_no_module_imports_a_higher_layer():
    modules, layers = _modules(), _layers()
    upward = [f"{modules[module].relative_to(ROOT)}:{line}: {module} (layer {layers[module][0]} "
              f"{layers[module][1]}) imports {name} (layer {layers[name][0]} {layers[name][1]})"
              for module, imported in _imports(modules).items() for name, line in imported
              if module in layers and name in layers and layers[name][0] > layers[module][0]]
    assert upward == [], "imports that run up a layer:\n" + "\n".join(upward)


def test_no_import_circles():
    graph = {module: {name for name, _ in imported} for module, imported in _imports(_modules()).items()}
    visiting, done, circles = [], set(), []

    def visit(module: str) -> None:
        if module in done:
            return
        if module in visiting:
            circles.append(" -> ".join(visiting[visiting.index(module):] + [module]))
            return
        visiting.append(module)
        for name in sorted(graph[module]):
            visit(name)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert circles == [], "import circles:\n" + "\n".join(circles)


def test_no_test_imports_conftest_as_a_library():
    """Fixtures come from conftest.py through pytest; helpers from tests/support (a conftest imported as a module
    runs twice, under two names, and its fixtures with it)."""
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}" for path in (ROOT / "tests").rglob("*.py")
             if "node_modules" not in path.parts
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if re.match(r"\s*(from\s+(tests\.)?conftest\s+import|import\s+(tests\.)?conftest)", line)]
    assert found == [], "\n".join(found)
