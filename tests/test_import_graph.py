"""The import graph of the server apps (issue #15, DESIGN.md "The house").

- No cycle among the server's modules: each module can be read knowing only what it imports.
  Imports made only for type checking (`if TYPE_CHECKING:`) are not edges; an import inside a
  function is (it runs, later).
- Apps depend downward only: `activation` → `devices` → `profiles` → `rps_site`; the portal is an
  edge over all of them (it also hears `activation.session_events` for live progress), and so are
  the observers `metrics` and `events` (they hear the session events and report them).
- Hooks: the few modules every layer calls into to report what it does (the audit decorator, the
  metric instruments, the REST event hook). Any layer may import them; they import only
  `rps_site` and one another, so a hook never pulls a caller's layer in.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_APPS = ("activation", "audit", "devices", "events", "metrics", "portal", "profiles", "rps_site")
# What each app may import from the others.
ALLOWED = {
    "rps_site": set(),
    "audit": {"rps_site"},
    "profiles": {"rps_site"},
    "devices": {"profiles", "rps_site"},
    "activation": {"devices", "profiles", "rps_site"},
    "metrics": {"activation", "rps_site"},
    "events": {"activation", "metrics", "rps_site"},
    "portal": {"activation", "devices", "profiles", "rps_site"},
}
HOOKS = {
    "audit.context",
    "audit.models",
    "audit.services",
    "events.config",
    "events.payload",
    "events.publisher",
    "events.rest",
    "metrics.devices",
    "metrics.multiprocess",
    "metrics.registry",
}
# Known exceptions, each a place to look: the devices admin renders the portal's device page; the
# audit admin is read-only through the devices admin's read-only base.
EDGE_EXCEPTIONS = {("devices.admin", "portal.device_page"), ("audit.admin", "devices.admin")}
# rps_site is also the project: these modules wire or audit every app, so they may import any.
# urls/asgi/serve mount each app's edge; vault_audit compares every app's records with Vault;
# observability_settings reads each observer's settings.
PROJECT_WIRING = {
    "rps_site.urls",
    "rps_site.asgi",
    "rps_site.serve",
    "rps_site.vault_audit",
    "rps_site.observability_settings",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def server_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for app in SERVER_APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    }


def runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement except those under `if TYPE_CHECKING:`."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        pending.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The server modules `name` imports (a package's `__init__` only when named itself)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        found.update(target for target in targets if target in known and target != name)
    return found


def import_graph() -> dict[str, set[str]]:
    known = server_modules()
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_among_server_modules() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_apps_depend_downward_only() -> None:
    upward = sorted(
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if name not in PROJECT_WIRING
        for target in targets
        if (app := name.split(".")[0]) != (target_app := target.split(".")[0])
        and target_app not in ALLOWED[app]
        and (name, target) not in EDGE_EXCEPTIONS
        and target not in HOOKS
    )
    assert upward == []


def test_hooks_import_only_rps_site_and_one_another() -> None:
    graph = import_graph()
    assert not HOOKS - graph.keys(), f"not a server module: {sorted(HOOKS - graph.keys())}"
    leaking = sorted(
        f"{hook} imports {target}"
        for hook in HOOKS
        for target in graph[hook]
        if target not in HOOKS and not target.startswith("rps_site.")
    )
    assert leaking == []
