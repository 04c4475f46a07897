"""Every widget test runs with a QApplication (icons and palettes need one)."""

import pytest


@pytest.fixture(autouse=True)
def _application(qapp):
    return qapp
