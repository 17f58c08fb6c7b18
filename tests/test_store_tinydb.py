"""The TinyDB store: the shared contract plus what only a file can get wrong."""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import stat

import filelock
import pytest

from kept.errors import StorageError
from kept.storage import tinydb_store
from kept.storage.base import SCHEMA_VERSION
from kept.storage.tinydb_store import TinyDBStore, marker_path, set_aside

from test_store_contract import Boom, StoreContract, make_message, make_promise, make_thread


class TestTinyDBStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        store = TinyDBStore(tmp_path / "kept" / "kept.json")
        self._open = [store]
        yield store
        for opened in self._open:
            opened.close()

    def reopen(self, store):
        store.close()
        reopened = TinyDBStore(store.path)
        self._open.append(reopened)
        return reopened


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "data" / "kept.json"


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def count_writes(monkeypatch):
    """Record every database write made through the module."""
    writes = []
    real_write = tinydb_store._write_atomically

    def counting(path, payload, mtime_ns):
        writes.append(path)  # payload may be a one-shot iterator of chunks
        return real_write(path, payload, mtime_ns)

    monkeypatch.setattr(tinydb_store, "_write_atomically", counting)
    return writes


# -- files and permissions ------------------------------------------------


def test_creates_private_file_and_directory(db_path):
    os.umask(0o022)
    store = TinyDBStore(db_path)
    store.put_message(make_message())
    assert mode_of(db_path.parent) == 0o700
    assert mode_of(db_path) == 0o600
    assert json.loads(db_path.read_text())["meta"]["schema_version"] == {"value": SCHEMA_VERSION}
    store.close()


def test_only_one_file_besides_the_lock_and_marker(db_path):
    store = TinyDBStore(db_path)
    with store.transaction():
        store.put_message(make_message())
        store.put_thread(make_thread())
    store.close()
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["kept.json", "kept.json.id", "kept.json.lock"]
    assert mode_of(marker_path(db_path)) == 0o600


def test_warns_about_wide_permissions(db_path, caplog):
    TinyDBStore(db_path).close()
    os.chmod(db_path, 0o644)
    os.chmod(db_path.parent, 0o755)
    with caplog.at_level(logging.WARNING, logger="kept.storage.tinydb_store"):
        TinyDBStore(db_path).close()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(db_path) in m and "0644" in m for m in warned)
    assert any(str(db_path.parent) in m and "0755" in m for m in warned)


def test_no_warning_for_private_files(db_path, caplog):
    TinyDBStore(db_path).close()
    with caplog.at_level(logging.WARNING):
        TinyDBStore(db_path).close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_data_persists_across_reopen(db_path):
    store = TinyDBStore(db_path)
    with store.transaction():
        for i in range(50):
            store.put_message(make_message(f"<{i}>"))
        store.put_thread(make_thread("t-1", tuple(f"<{i}>" for i in range(50))))
        store.put_promise(make_promise())
        store.set_cursor("work", "Sent", {"last_uid": 50})
    store.close()
    store = TinyDBStore(db_path)
    assert store.count_messages() == {"sent": 50, "received": 0}
    assert store.thread_key_for_message("work", "<49>") == "t-1"
    assert store.get_promise("p-1") == make_promise()
    assert store.get_cursor("work", "Sent") == {"last_uid": 50}
    store.close()


# -- damaged and foreign files --------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{\"messages\": {\"[\\\"work\\\", \\\"<m",  # cut short, as a non-atomic writer would leave it
        b"\xff\xfe garbage",
        b"[1, 2, 3]",
        b'{"messages": {}, "meta": {}}',  # no schema version
        b'{"messages": [], "meta": {"schema_version": {"value": 1}}}',
        b'{"threads": {"t": {"key": "t"}}, "meta": {"schema_version": {"value": 1}}}',
    ],
)
def test_damaged_file_is_refused_and_left_alone(db_path, content):
    db_path.parent.mkdir(mode=0o700)
    db_path.write_bytes(content)
    with pytest.raises(StorageError) as caught:
        TinyDBStore(db_path)
    assert "damaged" in str(caught.value)
    assert "kept rebuild" in str(caught.value)
    assert db_path.read_bytes() == content


def test_damaged_document_is_reported_when_read(db_path):
    store = TinyDBStore(db_path)
    store.put_promise(make_promise())
    store.close()
    data = json.loads(db_path.read_text())
    data["promises"]["p-1"]["made_at"] = "not a date"
    db_path.write_text(json.dumps(data))
    store = TinyDBStore(db_path)
    with pytest.raises(StorageError, match="kept rebuild"):
        store.get_promise("p-1")
    store.close()


def test_newer_schema_is_refused(db_path):
    TinyDBStore(db_path).close()
    data = json.loads(db_path.read_text())
    data["meta"]["schema_version"] = {"value": SCHEMA_VERSION + 1}
    db_path.write_text(json.dumps(data))
    with pytest.raises(StorageError, match="written by a newer kept"):
        TinyDBStore(db_path)


def test_plain_tinydb_can_read_the_file(db_path):
    from tinydb import TinyDB

    store = TinyDBStore(db_path)
    store.put_promise(make_promise())
    store.close()
    with TinyDB(db_path) as plain:
        assert plain.table("promises").get(doc_id="p-1")["sentence"] == make_promise().sentence


# -- atomic writes --------------------------------------------------------


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_write_keeps_the_previous_file(db_path, monkeypatch, failing):
    store = TinyDBStore(db_path)
    store.put_message(make_message("<old>"))
    before = db_path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tinydb_store.os, failing, disk_full)
    with pytest.raises(StorageError, match="disk is full"):
        with store.transaction():
            store.put_message(make_message("<new>"))
    monkeypatch.undo()

    assert db_path.read_bytes() == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["kept.json", "kept.json.id", "kept.json.lock"]
    # The failed transaction's changes are gone from memory too.
    assert store.has_message("work", "<old>")
    assert not store.has_message("work", "<new>")
    store.put_message(make_message("<later>"))
    store.close()
    reopened = TinyDBStore(db_path)
    assert reopened.has_message("work", "<later>") and not reopened.has_message("work", "<new>")
    reopened.close()


def _exercise(store, rounds=3):
    """Commits, replaced documents, undone inner and rolled back outer transactions."""
    for round_number in range(rounds):
        with store.transaction():
            for i in range(20):
                store.put_message(make_message(f"<{i}>", subject=f"round {round_number}" if i % 3 else "same"))
            store.put_thread(make_thread("t-1", tuple(f"<{i}>" for i in range(round_number + 1))))
            with pytest.raises(Boom), store.transaction():
                store.put_message(make_message("<undone>"))
                store.put_message(make_message("<1>", subject="undone"))
                raise Boom
            store.set_meta("round", round_number)
        with pytest.raises(Boom), store.transaction():
            store.put_message(make_message("<rolled back>"))
            store.put_message(make_message("<2>", subject="rolled back"))
            raise Boom


def test_file_always_matches_what_was_committed(db_path):
    """Only changed documents are re-encoded at commit; the file must still be whole."""
    store = TinyDBStore(db_path)
    _exercise(store)
    # Another store's commit makes ours read the file anew before its next one.
    other = TinyDBStore(db_path)
    other.set_meta("other", True)
    other.close()
    _exercise(store)
    text = db_path.read_text()
    store.set_meta("round", 2)  # unchanged: reads the file after the rollback, writes nothing
    assert db_path.read_text() == text
    assert json.loads(text) == store._storage.decoded()
    assert "<undone>" not in text and "rolled back" not in text
    reference = TinyDBStore(db_path.with_name("reference.json"))
    _exercise(reference, rounds=3)
    expected = json.loads(reference.path.read_text())
    for name in ("messages", "threads", "promises", "cursors"):
        assert json.loads(text)[name] == expected[name]
    assert json.loads(text)["meta"]["other"] == {"value": True}
    store.close()
    reference.close()


def test_one_write_per_transaction(db_path, monkeypatch):
    store = TinyDBStore(db_path)
    writes = count_writes(monkeypatch)
    with store.transaction():
        for i in range(100):
            store.put_message(make_message(f"<{i}>"))
            store.put_thread(make_thread(f"t-{i}", (f"<{i}>",)))
        store.set_meta("last_scan", "now")
    assert len(writes) == 1
    store.put_promise(make_promise())  # outside a transaction: a transaction of its own
    assert len(writes) == 2


def test_unchanged_transactions_do_not_write(db_path, monkeypatch):
    store = TinyDBStore(db_path)
    with store.transaction():
        for i in range(10):
            store.put_message(make_message(f"<{i}>"))
        store.set_meta("last_scan", "now")
    writes = count_writes(monkeypatch)
    with store.transaction():
        store.count_messages()
        store.get_message("work", "<1>")
    with store.transaction():  # a rescan of the same mail
        for i in range(10):
            store.put_message(make_message(f"<{i}>"))
        store.set_meta("last_scan", "now")
    with pytest.raises(Boom), store.transaction():
        store.put_message(make_message("<x>"))
        raise Boom
    assert writes == []


def test_unchanged_file_is_not_read_again(db_path, monkeypatch):
    store = TinyDBStore(db_path)
    store.put_message(make_message())
    loads = []
    real_load = tinydb_store._AtomicJSONStorage._load

    def counting_load(self):
        loads.append(1)
        return real_load(self)

    monkeypatch.setattr(tinydb_store._AtomicJSONStorage, "_load", counting_load)
    for _ in range(5):
        store.has_message("work", "<m1@example.com>")
    store.put_message(make_message("<m2>"))
    assert loads == []
    # Another process (here: another store) writes; we must notice.
    other = TinyDBStore(db_path)
    other.put_message(make_message("<from-other>"))
    assert store.has_message("work", "<from-other>")
    assert len(loads) == 2  # other's open, then our refresh
    other.close()
    store.close()


def test_two_stores_in_turn_never_lose_writes(db_path):
    first, second = TinyDBStore(db_path), TinyDBStore(db_path)
    for i in range(20):
        store = first if i % 2 else second
        with store.transaction():
            store.set_meta("counter", store.get_meta("counter", 0) + 1)
            store.put_thread(make_thread(f"t-{i}", (f"<{i}>",)))
    assert first.get_meta("counter") == second.get_meta("counter") == 20
    assert first.thread_key_for_message("work", "<18>") == "t-18"
    first.close()
    second.close()


# -- locking ------------------------------------------------------------


def test_lock_timeout_names_the_lock_file(db_path):
    store = TinyDBStore(db_path, lock_timeout=0.2)
    with filelock.FileLock(str(store.lock_path), thread_local=False):
        with pytest.raises(StorageError) as caught:
            store.put_message(make_message())
    assert str(store.lock_path) in str(caught.value)
    assert "locked" in str(caught.value)
    store.put_message(make_message())  # free again
    assert store.has_message("work", "<m1@example.com>")
    store.close()


def _count_in_another_process(path, worker: int, rounds: int) -> None:
    store = TinyDBStore(path)
    for i in range(rounds):
        with store.transaction():
            store.set_meta("counter", store.get_meta("counter", 0) + 1)
            store.put_promise(make_promise(f"{worker}-{i}"))
    store.close()


def test_two_processes_never_lose_an_update(db_path):
    TinyDBStore(db_path).close()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_count_in_another_process, args=(db_path, n, 200)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    data = json.loads(db_path.read_text())  # valid JSON
    assert data["meta"]["counter"] == {"value": 400}
    store = TinyDBStore(db_path)
    assert store.get_meta("counter") == 400
    assert len(list(store.promises())) == 400
    store.close()


def test_deleted_file_is_refused_while_open(db_path):
    store = TinyDBStore(db_path)
    store.put_message(make_message())
    db_path.unlink()
    with pytest.raises(StorageError, match="missing, but kept has used it before") as caught:
        store.has_message("work", "<m1@example.com>")
    assert "kept rebuild" in str(caught.value)
    assert not db_path.exists()
    store.close()


def test_deleted_file_is_refused_at_start_not_taken_for_a_first_run(db_path):
    store = TinyDBStore(db_path)
    store.set_cursor("work", "INBOX", {"uid": 40})
    store.close()
    db_path.unlink()
    with pytest.raises(StorageError, match="kept rebuild"):
        TinyDBStore(db_path)
    assert not db_path.exists()


def test_set_aside_allows_a_new_database(db_path):
    store = TinyDBStore(db_path)
    store.put_message(make_message())
    first_id = store.get_meta("database_id")
    store.close()
    moved = set_aside(db_path, "broken-1")
    assert moved == db_path.with_name("kept.json.broken-1")
    assert db_path.with_name("kept.json.id.broken-1").exists()
    store = TinyDBStore(db_path)
    assert not store.has_message("work", "<m1@example.com>")
    assert store.get_meta("database_id") not in (None, first_id)
    store.close()
    assert json.loads(marker_path(db_path).read_text())["database_id"] == json.loads(db_path.read_text())[
        "meta"]["database_id"]["value"]


def test_database_without_id_gets_one_and_a_marker(db_path):
    TinyDBStore(db_path).close()
    data = json.loads(db_path.read_text())
    del data["meta"]["database_id"]
    db_path.write_text(json.dumps(data))
    marker_path(db_path).unlink()
    store = TinyDBStore(db_path)
    database_id = store.get_meta("database_id")
    store.close()
    assert isinstance(database_id, str) and len(database_id) == 32
    assert json.loads(marker_path(db_path).read_text())["database_id"] == database_id
    assert json.loads(db_path.read_text())["meta"]["database_id"] == {"value": database_id}


def test_deleted_marker_is_written_again(db_path):
    TinyDBStore(db_path).close()
    marker_path(db_path).unlink()
    store = TinyDBStore(db_path)
    store.close()
    assert json.loads(marker_path(db_path).read_text())["database_id"] == store_id(db_path)


def store_id(path):
    return json.loads(path.read_text())["meta"]["database_id"]["value"]
