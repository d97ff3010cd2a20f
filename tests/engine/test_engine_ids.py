"""The fast activity id must stay byte-identical to `activity_id_for` (stored states use it)."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from connector.engine.ids import activity_id
from connector.engine.models import activity_id_for


@given(st.text(), st.text(), st.integers(min_value=0, max_value=10**6))
def test_same_text_as_uuid5(connection_id, step_id, attempt):
    assert activity_id(connection_id, step_id, attempt) == activity_id_for(
        connection_id, step_id, attempt
    )


def test_real_ids_and_default_attempt():
    for _ in range(200):
        conn, step = str(uuid.uuid4()), str(uuid.uuid4())
        made = activity_id(conn, step)
        assert made == activity_id_for(conn, step, 0)
        assert uuid.UUID(made).version == 5
