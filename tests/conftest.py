"""Shared pytest configuration."""
import os

import pytest

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: soak tests (run in make test, bounded)")


@pytest.fixture
def artifacts_dir():
    """Directory for screenshots and reports a test leaves behind."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    return ARTIFACTS
