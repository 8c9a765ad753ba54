"""idempotency/ and core/ are on the ground floor: they import no project app but core/."""

import ast
from pathlib import Path

import pytest
from django.conf import settings

PROJECT_PACKAGES = {path.parent.name for path in Path(settings.BASE_DIR).glob("*/__init__.py")}


def imported_packages(package: str) -> set[str]:
    names = set()
    for path in (Path(settings.BASE_DIR) / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(("package", "allowed"), [("core", set()), ("idempotency", {"core"})])
def test_a_ground_floor_package_imports_no_project_app_above_it(package, allowed):
    assert {"recycling", "stations", "api"} <= PROJECT_PACKAGES  # the check sees the project's apps
    assert imported_packages(package) & PROJECT_PACKAGES - {package} == allowed
