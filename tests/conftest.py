import os

# Tests run on small machines: keep torch from oversubscribing the cores.
os.environ.setdefault("OMP_NUM_THREADS", "2")

import pytest


@pytest.fixture(scope="session")
def chorale_cache(tmp_path_factory):
    """One parse of a few chorales shared by every training test."""
    from pit_lightning.data import ChoralesDataModule

    path = tmp_path_factory.mktemp("chorale_cache")
    ChoralesDataModule(limit=12, cache_dir=str(path)).prepare_data()
    return str(path)
