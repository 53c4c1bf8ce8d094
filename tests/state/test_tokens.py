from __future__ import annotations

import json
import time

from mlconnector.state import open_state


TOKEN = {"access_token": "eyJhbGciOi.ACCESS-TOKEN-VALUE-123456", "refresh_token": "REFRESH-998877"}


def test_token_round_trip_is_encrypted_on_disk(state, db_path, raw_bytes):
    state.put_token("procore", "client-abc", b"client-secret-1", TOKEN, time.time() + 3600)
    assert state.get_token("procore", "client-abc", b"client-secret-1") == TOKEN
    for raw in (raw_bytes(db_path),):
        assert b"ACCESS-TOKEN-VALUE" not in raw
        assert b"REFRESH-998877" not in raw
        assert json.dumps(TOKEN).encode() not in raw
    state.close()
    raw = raw_bytes(db_path)
    assert b"ACCESS-TOKEN-VALUE" not in raw and b"REFRESH-998877" not in raw
    again = open_state(db_path)
    try:
        assert again.get_token("procore", "client-abc", b"client-secret-1") == TOKEN
    finally:
        again.close()


def test_rotated_secret_gives_none_and_forgets_the_row(state):
    state.put_token("procore", "client-abc", b"old-secret", TOKEN, time.time() + 3600)
    assert state.get_token("procore", "client-abc", b"new-secret") is None
    assert state.stats()["rows"]["tokens"] == 0
    assert state.get_token("procore", "client-abc", b"old-secret") is None


def test_token_does_not_decrypt_under_another_cache_key(state):
    state.put_token("procore", "a", b"secret", TOKEN, time.time() + 3600)
    state.put_token("procore", "b", b"secret", {"access_token": "other"}, time.time() + 3600)
    assert state.get_token("procore", "a", b"secret") == TOKEN
    assert state.get_token("procore", "b", b"secret") == {"access_token": "other"}


def test_expired_token_gives_none(state):
    state.put_token("sage300", "u@host", b"secret", TOKEN, time.time() - 1)
    assert state.get_token("sage300", "u@host", b"secret") is None
    assert state.stats()["rows"]["tokens"] == 0


def test_put_replaces_and_delete(state):
    state.put_token("s", "k", b"secret", {"access_token": "one"}, time.time() + 60)
    state.put_token("s", "k", b"secret", {"access_token": "two"}, time.time() + 60)
    assert state.get_token("s", "k", b"secret") == {"access_token": "two"}
    assert state.delete_token("s", "k") is True
    assert state.get_token("s", "k", b"secret") is None
