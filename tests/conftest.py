"""Shared fixtures: the lecture's splits are built once per test session."""
import pytest


@pytest.fixture(scope="session")
def splits8():
    from data import load_splits
    return load_splits(block_size=8)
