"""Arrows between the apps point down the list only (README, "Layout"), and no app imports config.

Every .py file of the five apps is parsed (never imported), and each reference to another
app counts as an arrow: an import (also through import_module/import_string), an admin
URL name ("admin:pickaxes_run_change"), an `apps.get_model` call, a model named by a
string ("credits.Entry" in a relation) and a migration dependency.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["accounts", "credits", "billing", "pickaxes", "embeds"]  # each may use only those before it
RANK = {app: rank for rank, app in enumerate(APPS)}
ADMIN_URL = re.compile(rf"^admin:({'|'.join(APPS)})_")
MODEL_LABEL = re.compile(rf"^({'|'.join(APPS)})\.[A-Za-z]\w*$")
RELATIONS = {"ForeignKey", "OneToOneField", "ManyToManyField"}
IMPORTERS = {"import_module", "import_string"}


def python_files(app):
    return sorted((ROOT / app).rglob("*.py"))


def _name(node):
    """`f` for f(...) and `x.y.f` for x.y.f(...)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _constant(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def arrows(path):
    """(line, kind, the package it points at) for every reference in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, "import", alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, "import", node.module.split(".")[0]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and ADMIN_URL.match(node.value):
            found.append((node.lineno, "admin URL name", ADMIN_URL.match(node.value).group(1)))
        elif isinstance(node, ast.Call):
            name, args = _name(node.func), [_constant(arg) for arg in node.args]
            if name in IMPORTERS and args and args[0]:
                found.append((node.lineno, name, args[0].split(".")[0]))
            elif name == "get_model" and args and args[0]:
                found.append((node.lineno, "get_model", args[0].split(".")[0]))
            elif name in RELATIONS:
                targets = args[:1] + [_constant(k.value) for k in node.keywords if k.arg == "to"]
                found += [
                    (node.lineno, "model reference", target.split(".")[0])
                    for target in targets
                    if target and MODEL_LABEL.match(target)
                ]
        elif isinstance(node, ast.ClassDef) and node.name == "Migration":
            found += [(line, "migration dependency", app) for line, app in _dependencies(node)]
    return found


def _dependencies(migration):
    for statement in migration.body:
        if isinstance(statement, ast.Assign) and any(getattr(t, "id", "") == "dependencies" for t in statement.targets):
            for item in getattr(statement.value, "elts", []):
                if isinstance(item, ast.Tuple) and _constant(item.elts[0]):
                    yield item.lineno, _constant(item.elts[0])
                # swappable_dependency(settings.AUTH_USER_MODEL) is accounts: the bottom, always allowed


def upward_arrows(app):
    return [
        f"{path.relative_to(ROOT)}:{line}: {kind} → {target}"
        for path in python_files(app)
        for line, kind, target in arrows(path)
        if RANK.get(target, -1) > RANK[app]
    ]


@pytest.mark.parametrize("app", APPS)
def test_an_app_uses_only_the_apps_below_it(app):
    assert upward_arrows(app) == []


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_config(app):
    into_config = [
        f"{path.relative_to(ROOT)}:{line}: {kind}"
        for path in python_files(app)
        for line, kind, target in arrows(path)
        if target == "config"
    ]
    assert into_config == []


def test_the_check_sees_each_kind_of_arrow(tmp_path):
    """The parser is not vacuous: it finds an arrow of every kind in a sample."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import pickaxes.models\n"
        "from billing import services\n"
        "reverse('admin:embeds_embed_change')\n"
        "apps.get_model('pickaxes', 'Run')\n"
        "import_module('config.settings')\n"
        "models.ForeignKey('pickaxes.Run', on_delete=None)\n"
        "class Migration:\n"
        "    dependencies = [('billing', '0001_initial')]\n"
    )
    kinds = {(kind, target) for _, kind, target in arrows(sample)}
    assert kinds == {
        ("import", "pickaxes"),
        ("import", "billing"),
        ("admin URL name", "embeds"),
        ("get_model", "pickaxes"),
        ("import_module", "config"),
        ("model reference", "pickaxes"),
        ("migration dependency", "billing"),
    }
