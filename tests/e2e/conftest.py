"""Every test here runs whole tools or trainings in subprocesses: each gets the e2e marker."""
from pathlib import Path

import pytest

E2E = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list) -> None:
    for item in items:
        if E2E in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)
