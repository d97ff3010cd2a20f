import pytest

from connector.engine.models import Record


@pytest.fixture
def lead() -> Record:
    return Record(id="r-1", table="lead", name="Nancy")
