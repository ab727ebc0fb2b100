"""Fixtures of the fax tests."""
import pytest

from trunkline.data.db import Base, make_engine, make_session_factory
from trunkline.data.models import Fax
from trunkline.fax.service import FaxStore


@pytest.fixture
def store(tmp_path):
    """A fax store (TIFF-F folders + a `faxes` table) in tmp_path."""
    eng = make_engine(f"sqlite:///{tmp_path}/fax.db")
    Base.metadata.create_all(eng, tables=[Fax.__table__])
    return FaxStore(make_session_factory(eng), str(tmp_path / "fax"))
