"""Random identifiers (iii_engine.ids): valid, distinct UUID v4 strings."""

from __future__ import annotations

import uuid

from iii_engine.ids import RANDOM_POOL_BYTES, RandomIds


def test_ids_are_distinct_uuid4_strings_across_pool_refills() -> None:
    ids = RandomIds()
    made = [ids() for _ in range(3 * RANDOM_POOL_BYTES // 16 + 5)]
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
