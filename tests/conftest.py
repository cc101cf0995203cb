import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))


@pytest.fixture(scope="session")
def repository():
    return REPOSITORY
