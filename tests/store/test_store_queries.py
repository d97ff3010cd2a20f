from datetime import UTC, datetime

import pytest

from connector.engine.models import Record
from connector.errors import InvalidInput, NotFound
from connector.store import records as record_store
from connector.store import sequences as seq_store
from connector.store.db import open_store

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


@pytest.fixture
def store(state_url):
    opened = open_store(state_url)
    yield opened
    opened.close()


def rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def test_upsert_and_load_many_ids_across_chunks(store):
    batch = [Record(id=rid(n), table="lead", name=f"L{n}") for n in range(2000)]
    with store.begin() as db:
        assert record_store.upsert_records(db, batch, NOW) == (2000, 0)
        assert record_store.upsert_records(db, batch[:1500], NOW) == (0, 1500)
        loaded = record_store.load_records(db, [r.id for r in batch] + ["missing"])
    assert len(loaded) == 2000 and loaded[rid(5)].name == "L5"


def test_where_filters_fields_and_mapped_columns(store):
    with store.begin() as db:
        record_store.upsert_records(db, [
            Record(id=rid(1), table="lead", name="A", columns={"city": "Lyon", "score": 5}),
            Record(id=rid(2), table="lead", name="B", columns={"city": "Oslo"}, is_open=False),
            Record(id=rid(3), table="opportunity", name="C", columns={"city": "Lyon"}),
        ], NOW)
        found = record_store.query_records
        assert [r.id for r in found(db, where={"city": "Lyon"})] == [rid(1), rid(3)]
        assert [r.id for r in found(db, table="lead", where={"is_open": "false"})] == [rid(2)]
        assert [r.id for r in found(db, where={"name": "C"})] == [rid(3)]
        assert [r.id for r in found(db, where={"score": "5"})] == [rid(1)]
        assert [r.id for r in found(db, table="lead", open_only=True)] == [rid(1)]
        with pytest.raises(InvalidInput, match="--where is_open=maybe: expected true or false"):
            found(db, where={"is_open": "maybe"})


def test_parse_where():
    assert record_store.parse_where(["city=Lyon", "name=a=b"]) == {"city": "Lyon", "name": "a=b"}
    with pytest.raises(InvalidInput, match="--where 'city': expected COLUMN=VALUE"):
        record_store.parse_where(["city"])


def test_find_sequence_by_name_or_id(store):
    from connector.engine.models import Sequence

    seq = Sequence(id="6f8a4c1e-0000-4000-8000-000000000001", name="Cold Leads", entity="lead",
                   created_on=NOW, modified_on=NOW)
    with store.begin() as db:
        seq_store.insert_sequence(db, seq)
        assert seq_store.find_sequence(db, "cold leads").id == seq.id
        assert seq_store.find_sequence(db, seq.id.upper()).name == "Cold Leads"
        with pytest.raises(NotFound, match="no sequence named or with id 'warm'"):
            seq_store.find_sequence(db, "warm")
