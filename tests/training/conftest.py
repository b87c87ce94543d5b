import pytest

from pit_lightning.data import ChoralesDataModule


@pytest.fixture(scope="session")
def chorale_cache(tmp_path_factory):
    """One parse of a few chorales shared by every training test."""
    path = tmp_path_factory.mktemp("chorale_cache")
    ChoralesDataModule(limit=12, cache_dir=str(path)).prepare_data()
    return str(path)
