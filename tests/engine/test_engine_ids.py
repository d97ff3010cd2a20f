"""Activity ids stay byte-identical to uuid5 of "conn:step:attempt": stored states use them."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from connector.engine.models import ACTIVITY_NAMESPACE, activity_id_for


@given(st.text(), st.text(), st.integers(min_value=0, max_value=10**6))
def test_same_text_as_uuid5(connection_id, step_id, attempt):
    expected = str(uuid.uuid5(ACTIVITY_NAMESPACE, f"{connection_id}:{step_id}:{attempt}"))
    assert activity_id_for(connection_id, step_id, attempt) == expected


def test_real_ids_and_default_attempt():
    for _ in range(200):
        conn, step = str(uuid.uuid4()), str(uuid.uuid4())
        made = activity_id_for(conn, step)
        assert made == str(uuid.uuid5(ACTIVITY_NAMESPACE, f"{conn}:{step}:0"))
        assert uuid.UUID(made).version == 5
