"""Static checks of the architecture's rules over the source tree (see ARCHITECTURE.md).

Each check reads the code with ``ast``, so comments and docstrings never trip it, and
reports every offence as ``path:line`` at once.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.models import Model

from schema import TENANT_MODEL_MODULES
from tenants.backends import SHARED_ALIAS, TENANT_ALIAS
from tenants.config import TenancyConfig
from tenants.runtime import Tenancy

ROOT = Path(__file__).resolve().parent.parent
# The layers, top first: each may import only the layers before it.
LAYERS = ("alembic_like", "tenants", "schema", "workers", "saas")


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def all_python_files() -> list[Path]:
    """Every Python file of the repository, not of the virtualenv or build output."""
    folders = [
        p.name
        for p in ROOT.iterdir()
        if p.is_dir()
        and not p.name.startswith(".")
        and not p.name.endswith(".egg-info")
        and p.name not in ("build", "dist")
    ]
    return python_files(*folders) + sorted(ROOT.glob("*.py"))


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def where(path: Path, node: ast.AST, root: Path = ROOT) -> str:
    return f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"


def top_folder(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).parts[0]


# -- no using_db outside tenants/ ------------------------------------------------------


def using_db_uses(path: Path, root: Path = ROOT) -> Iterator[str]:
    for node in ast.walk(tree(path)):
        named = (
            (isinstance(node, ast.keyword) and node.arg == "using_db")
            or (isinstance(node, ast.Name) and node.id == "using_db")
            or (isinstance(node, ast.Attribute) and node.attr == "using_db")
            or (isinstance(node, ast.arg) and node.arg == "using_db")
        )
        if named:
            yield where(path, node, root)


def test_no_using_db_outside_tenants() -> None:
    """tenant_scope() routes every query; a using_db elsewhere bypasses or fights it."""
    offences = [
        hit
        for path in all_python_files()
        if top_folder(path) != "tenants"
        for hit in using_db_uses(path)
    ]
    assert offences == [], f"using_db outside tenants/: {offences}"


# -- no search_path outside tenants/ and alembic_like/ ---------------------------------


def search_path_strings(path: Path, root: Path = ROOT) -> Iterator[str]:
    for node in ast.walk(tree(path)):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and "search_path" in text.lower():
            yield where(path, node, root)


def test_no_search_path_outside_the_tenancy_layer() -> None:
    """Only the tenancy backends (and migrations) may route a connection to a schema.

    Scans the product packages; tests/ and bench/ reproduce naive routing on purpose.
    """
    folders = [layer for layer in LAYERS if layer not in ("tenants", "alembic_like")]
    offences = [hit for path in python_files(*folders) for hit in search_path_strings(path)]
    assert offences == [], f"search_path outside tenants/ and alembic_like/: {offences}"


def test_the_checks_see_code_and_not_comments(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "# using_db and search_path in a comment are fine\n"
        "async def f(conn):\n"
        "    await Order.create(total=1, using_db=conn)\n"
        "    await Order.all().using_db(conn)\n"
        "    await conn.execute('SET search_path TO x')\n"
    )
    assert list(using_db_uses(source, tmp_path)) == ["sample.py:3", "sample.py:4"]
    assert list(search_path_strings(source, tmp_path)) == ["sample.py:5"]


# -- no DataLoader made once per process -----------------------------------------------


def base_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for base in node.bases:
        target = base.value if isinstance(base, ast.Subscript) else base
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, ast.Attribute):
            names.add(target.attr)
    return names


def loader_classes(paths: list[Path]) -> set[str]:
    """DataLoader and every class in the tree that derives from it, by name."""
    classes = [
        node for path in paths for node in ast.walk(tree(path)) if isinstance(node, ast.ClassDef)
    ]
    found = {"DataLoader"}
    while True:
        more = {c.name for c in classes if base_names(c) & found} - found
        if not more:
            return found
        found |= more


def called_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Subscript):  # DataLoader[int, str](...)
        func = func.value
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def module_level_loaders(path: Path, loaders: set[str], root: Path = ROOT) -> Iterator[str]:
    for statement in tree(path).body:
        if isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
            value = statement.value
            calls = [n for n in ast.walk(value) if isinstance(n, ast.Call)] if value else []
            if any(called_name(call) in loaders for call in calls):
                yield where(path, statement, root)


def test_no_module_level_dataloader() -> None:
    """A loader made once per process mixed two tenants' rows: make them per request."""
    paths = python_files("saas", "schema", "tenants", "workers")
    loaders = loader_classes(paths)
    offences = [hit for path in paths for hit in module_level_loaders(path, loaders)]
    assert offences == [], f"module-level DataLoader instances: {offences}"


def test_dataloader_check_catches_subclasses(tmp_path: Path) -> None:
    source = tmp_path / "loaders.py"
    source.write_text(
        "from strawberry.dataloader import DataLoader\n"
        "class ByIdLoader(DataLoader[int, str]): ...\n"
        "class TenantLoader(ByIdLoader): ...\n"
        "def per_request():\n"
        "    return TenantLoader(load_fn=None)\n"
        "SHARED = {'x': TenantLoader(load_fn=None)}\n"
        "OTHER: DataLoader = DataLoader(load_fn=None)\n"
    )
    loaders = loader_classes([source])
    assert loaders == {"DataLoader", "ByIdLoader", "TenantLoader"}
    offences = list(module_level_loaders(source, loaders, tmp_path))
    assert offences == ["loaders.py:6", "loaders.py:7"]


# -- models live on the right connection -----------------------------------------------


def models_of(module_name: str) -> list[type[Model]]:
    module = importlib.import_module(module_name)
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Model)
        and obj.__module__ == module_name
        and not obj._meta.abstract
    ]


def schema_model_modules() -> list[str]:
    """Every ``models.py`` module under schema/."""
    return [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in python_files("schema")
        if path.name == "models.py"
    ]


def test_every_domain_models_module_is_registered() -> None:
    assert sorted(schema_model_modules()) == sorted(TENANT_MODEL_MODULES)


# Model modules of the platform's own that the runtime adds to the tenant app.
PLATFORM_TENANT_MODEL_MODULES = ("tenants.outbox",)


async def test_models_resolve_to_their_connection(tmp_path: Path) -> None:
    tenant_models = [
        m
        for name in (*PLATFORM_TENANT_MODEL_MODULES, *TENANT_MODEL_MODULES)
        for m in models_of(name)
    ]
    shared_models = models_of("tenants.models")
    async with Tenancy(TenancyConfig(data_dir=tmp_path), TENANT_MODEL_MODULES):
        registered = {app: set(models.values()) for app, models in Tortoise.apps.items()}
        wrong = [
            f"{model.__module__}.{model.__name__}: app {model._meta.app!r}, "
            f"connection {model._meta.default_connection!r}"
            for models, app, alias in (
                (tenant_models, "tenant", TENANT_ALIAS),
                (shared_models, "shared", SHARED_ALIAS),
            )
            for model in models
            if (model._meta.app, model._meta.default_connection) != (app, alias)
        ]
    assert wrong == []
    assert registered == {"tenant": set(tenant_models), "shared": set(shared_models)}


# -- no upward imports between layers --------------------------------------------------


def imported_packages(path: Path) -> Iterator[tuple[str, ast.AST]]:
    """Top-level package of every absolute import, at any depth (functions included)."""
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node


def upward_imports(paths: list[Path], root: Path = ROOT) -> list[str]:
    offences = []
    for path in paths:
        layer = top_folder(path, root)
        allowed = set(LAYERS[: LAYERS.index(layer) + 1])
        for package, node in imported_packages(path):
            if package in LAYERS and package not in allowed:
                offences.append(f"{where(path, node, root)} ({layer} imports {package})")
    return offences


def test_no_upward_imports_between_layers() -> None:
    offences = upward_imports(python_files(*LAYERS))
    assert offences == [], f"imports against the layer order {' <- '.join(LAYERS)}: {offences}"


@pytest.mark.parametrize(
    ("layer", "source", "offending"),
    [
        ("alembic_like", "import tenants.registry\n", True),
        ("tenants", "def f():\n    from schema.root import build_schema\n", True),
        ("tenants", "from alembic_like import Track\n", False),
        ("schema", "if True:\n    import saas.config as c\n", True),
        ("schema", "from tenants.scope import tenant_scope\nfrom . import x\n", False),
        ("workers", "from saas import app\n", True),
        ("saas", "import workers, schema, tenants, alembic_like\n", False),
    ],
)
def test_import_check_sees_every_form(
    tmp_path: Path, layer: str, source: str, offending: bool
) -> None:
    path = tmp_path / layer / "module.py"
    path.parent.mkdir()
    path.write_text(source)
    assert bool(upward_imports([path], tmp_path)) is offending
