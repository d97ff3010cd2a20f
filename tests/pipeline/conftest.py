import pytest
from pipeline_helpers import T0, make_settings

from connector.app import open_app
from connector.config import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(settings):
    with open_app(settings, now=T0) as opened:
        yield opened
