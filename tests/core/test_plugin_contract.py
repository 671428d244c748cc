"""The plugin contract: what a plugin may import, and the shape every bundled plugin has.

Both checks are plain functions over files, so they are also fed bad examples
here: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kaimen

ROOT = Path(__file__).resolve().parents[2]
BLUEPRINTS = ROOT / "blueprints"
FIXTURE_PLUGINS = ROOT / "tests" / "fixtures" / "plugin_dist"

# The skeleton of a bundled plugin (README, "Writing a plugin").
REQUIRED_FILES = (
    "__init__.py",
    "blueprint.py",
    "models.py",
    "forms.py",
    "services.py",
    "metrics.py",
    "demo.py",
    "views/__init__.py",
)
VIEW_MODULES = {"__init__.py", "public.py", "staff.py", "bureau.py"}
INIT_NAMES = {"NAME", "LABEL", "HOOKSPECS", "PERMISSIONS", "__all__"}


def bundled_plugins() -> list[Path]:
    return sorted(p for p in BLUEPRINTS.iterdir() if (p / "__init__.py").exists())


def fixture_plugins() -> list[Path]:
    return sorted(p for p in FIXTURE_PLUGINS.iterdir() if (p / "__init__.py").exists())


def _imports(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """Return ``(line, absolute module, imported names)`` of every absolute import."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def import_violations(package: Path, own: str) -> list[str]:
    """Return the imports of ``package`` (named ``own``) that break the plugin contract."""
    facade = set(kaimen.__all__)
    problems = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package.parent)
        for line, module, names in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if module == "kaimen":
                problems += [f"{where}:{line} imports kaimen.{name}, not in the facade"
                             for name in names if name not in facade]
            elif module.startswith("kaimen.") and module not in kaimen.PLUGIN_SUBMODULES:
                problems.append(f"{where}:{line} imports {module}: use the kaimen facade")
            elif module.startswith("blueprints.") and module.split(".")[1] != own:
                problems.append(f"{where}:{line} imports another plugin, {module}")
            elif module == "blueprints":
                problems.append(f"{where}:{line} imports the blueprints package")
    return problems


def _is_hookimpl(node: ast.stmt) -> bool:
    return isinstance(node, ast.FunctionDef) and any(
        (isinstance(d, ast.Name) and d.id == "hookimpl")
        or (isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "hookimpl")
        for d in node.decorator_list
    )


def _assigned_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return ["?"]


def init_violations(init: Path) -> list[str]:
    """Return what ``__init__.py`` holds besides imports, ``NAME``, its labels and hooks."""
    problems, seen_code = [], False
    body = ast.parse(init.read_text(encoding="utf-8")).body
    for index, node in enumerate(body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Import | ast.ImportFrom):
            if seen_code:
                problems.append(f"{init.name}:{node.lineno} imports after code (E402 trick)")
            continue
        seen_code = True
        if _is_hookimpl(node):
            continue
        names = _assigned_names(node)
        if not set(names) <= INIT_NAMES:
            problems.append(f"{init.name}:{node.lineno} defines {', '.join(names)}: "
                            "only NAME, labels and hook implementations belong here")
    return problems


def shape_violations(package: Path) -> list[str]:
    """Return how ``package`` departs from the plugin skeleton."""
    name = package.name
    problems = [f"missing {f}" for f in REQUIRED_FILES if not (package / f).is_file()]
    if not (package / "templates" / name).is_dir():
        problems.append(f"missing templates/{name}/")
    views = package / "views"
    if views.is_dir():
        problems += [f"views/{p.name} is not one of public, staff, bureau"
                     for p in views.glob("*.py") if p.name not in VIEW_MODULES]
        if not any((views / m).is_file() for m in VIEW_MODULES - {"__init__.py"}):
            problems.append("views/ has none of public.py, staff.py, bureau.py")
    if (package / "views.py").exists():
        problems.append("views.py beside views/: views live in views/")
    if (package / "__init__.py").is_file():
        problems += init_violations(package / "__init__.py")
    return problems


# --- the real plugins -------------------------------------------------------------------------


# While the bundled plugins move to contract v2 one by one, the plugins already moved.
UNDER_CONTRACT = [BLUEPRINTS / name for name in ("homevisits",)]


@pytest.mark.parametrize("package", UNDER_CONTRACT + fixture_plugins(), ids=lambda p: p.name)
def test_plugins_import_the_core_only_through_the_facade(package):
    assert import_violations(package, package.name) == []


@pytest.mark.parametrize("package", UNDER_CONTRACT, ids=lambda p: p.name)
def test_bundled_plugins_have_the_documented_shape(package):
    assert shape_violations(package) == []


def test_the_facade_exports_what_it_lists():
    missing = [name for name in kaimen.__all__ if not hasattr(kaimen, name)]
    assert missing == []


# --- the checks fail on bad examples ----------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


GOOD_INIT = '''"""A good plugin."""
from kaimen import hookimpl

NAME = "good"


@hookimpl
def kaimen_permissions():
    return []
'''


def test_import_check_names_each_kind_of_violation(tmp_path):
    bad = write(tmp_path / "bad", {
        "__init__.py": "from kaimen.extensions import db\n",
        "services.py": "from kaimen import orgs, db\nimport kaimen.tenancy\n",
        "views/public.py": "from blueprints.pledges.models import Pledge\n",
        "forms.py": "from kaimen.forms import Phone\nfrom blueprints.bad import models\n",
    })
    problems = import_violations(bad, "bad")
    assert len(problems) == 4, problems
    assert any("kaimen.extensions" in p for p in problems)
    assert any("kaimen.orgs, not in the facade" in p for p in problems)
    assert any("kaimen.tenancy" in p for p in problems)
    assert any("another plugin, blueprints.pledges.models" in p for p in problems)


def test_shape_check_finds_missing_files_stray_views_and_a_busy_init(tmp_path):
    bad = write(tmp_path / "bad", {
        "__init__.py": GOOD_INIT + "\nHELPER = 1\n\nfrom . import views  # noqa: E402\n",
        "models.py": "",
        "views.py": "",
        "views/__init__.py": "",
        "views/admin.py": "",
    })
    problems = shape_violations(bad)
    for expected in ("missing blueprint.py", "missing services.py", "missing templates/bad/",
                     "views/admin.py is not one of", "views.py beside views/",
                     "defines HELPER", "imports after code"):
        assert any(expected in p for p in problems), (expected, problems)


def test_shape_check_accepts_the_skeleton(tmp_path):
    files = {name: "" for name in REQUIRED_FILES} | {
        "__init__.py": GOOD_INIT, "views/public.py": "", "templates/good/page.html": "",
    }
    assert shape_violations(write(tmp_path / "good", files)) == []
