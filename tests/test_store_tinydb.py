"""The TinyDB store: the shared contract plus what only a file can get wrong."""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import multiprocessing
import os
import stat

import filelock
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kept.errors import StorageError
from kept.storage import tinydb_store
from kept.storage.base import PROMISE_REVISION, SCHEMA_VERSION, promise_revision
from kept.models import Address, ThreadMessage
from kept.storage.serialize import to_json
from kept.storage.tinydb_store import TinyDBStore, marker_path, messages_path, set_aside
from kept.storage.transaction_lock import drop_rebuild_note, interrupted_set_aside

from test_store_contract import (
    Boom,
    StoreContract,
    assert_party_index_agrees,
    make_message,
    make_promise,
    make_thread,
)


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


def count_loads(monkeypatch):
    """Record every read of a whole main file."""
    loads = []
    real_load = tinydb_store._AtomicJSONStorage._load

    def counting_load(self):
        loads.append(1)
        return real_load(self)

    monkeypatch.setattr(tinydb_store._AtomicJSONStorage, "_load", counting_load)
    return loads


def fail_writes_to(monkeypatch, name, error):
    """Make every write of the database file called `name` raise `error`; the other files are written."""
    real_write = tinydb_store._write_atomically

    def failing(path, payload, mtime_ns):
        if path.name == name:
            raise error
        return real_write(path, payload, mtime_ns)

    monkeypatch.setattr(tinydb_store, "_write_atomically", failing)


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
        store.set_meta("muted_contacts", ["x@example.com"])
    assert len(writes) == 1
    store.put_promise(make_promise())  # outside a transaction: a transaction of its own
    assert len(writes) == 2


# -- the pass file: what every scan pass writes -------------------------------


def test_a_transaction_that_changes_only_pass_values_writes_only_the_pass_file(db_path, monkeypatch):
    """At 200,000 messages the main file is 77 MB, and a pass that finds nothing new changed only these."""
    store = TinyDBStore(db_path)
    store.put_message(make_message())
    main_before = db_path.read_bytes()
    writes = count_writes(monkeypatch)
    with store.transaction():
        store.set_meta("last_scan", "2026-03-20T08:00:00+00:00")
        store.set_meta("health:work", {"ok": True, "last_ok": "2026-03-20T08:00:00+00:00"})
    assert [p.name for p in writes] == ["kept.pass.json"]
    assert db_path.read_bytes() == main_before
    store.close()
    other = TinyDBStore(db_path)
    assert other.get_meta("last_scan") == "2026-03-20T08:00:00+00:00"
    assert other.get_meta("health:work") == {"ok": True, "last_ok": "2026-03-20T08:00:00+00:00"}
    assert other.has_message("work", "<m1@example.com>")
    other.close()


def test_a_transaction_that_changes_both_writes_both_and_the_main_file_holds_no_pass_value(db_path, monkeypatch):
    store = TinyDBStore(db_path)
    writes = count_writes(monkeypatch)
    with store.transaction():
        store.put_message(make_message())
        store.set_meta("last_scan", "then")
        store.set_meta("muted_contacts", ["x@example.com"])
    assert [p.name for p in writes] == ["kept.pass.json", "kept.json"]
    main_meta = json.loads(db_path.read_text())["meta"]
    assert "last_scan" not in main_meta and main_meta["muted_contacts"] == {"value": ["x@example.com"]}
    passed = json.loads((db_path.parent / "kept.pass.json").read_text())
    assert passed["meta"] == {"last_scan": {"value": "then"}}
    assert passed["database_id"] == main_meta["database_id"]["value"]
    writes.clear()
    store.set_meta("last_scan", "then")  # the same value: no write at all
    assert writes == []
    store.close()
    assert mode_of(db_path.parent / "kept.pass.json") == 0o600


def test_another_process_s_pass_is_seen(db_path):
    first, second = TinyDBStore(db_path), TinyDBStore(db_path)
    first.set_meta("last_scan", "one")
    assert second.get_meta("last_scan") == "one"
    second.set_meta("health:work", {"ok": False})
    assert first.get_meta("health:work") == {"ok": False}
    assert first.get_meta("last_scan") == "one"
    first.close()
    second.close()


def test_a_failed_pass_only_write_keeps_nothing_and_says_which_file(db_path, monkeypatch):
    store = TinyDBStore(db_path)
    store.set_meta("last_scan", "one")

    def full(path, payload, mtime_ns):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tinydb_store, "_write_atomically", full)
    with pytest.raises(StorageError, match="the disk is full; nothing from this run was saved"):
        store.set_meta("last_scan", "two")
    monkeypatch.undo()
    assert store.get_meta("last_scan") == "one"
    store.close()


def test_a_failed_pass_write_keeps_nothing_of_a_commit_that_changes_both(db_path, monkeypatch):
    """So a `kept forget` that also removes a health value naming the person is all or nothing."""
    store = TinyDBStore(db_path)
    store.set_meta("health:work", {"ok": False, "error": "zora@example.org refused"})
    fail_writes_to(monkeypatch, "kept.pass.json", OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(StorageError, match="the disk is full"), store.transaction():
        store.put_message(make_message())
        store.set_meta("health:work", {"ok": True})
    monkeypatch.undo()
    assert not store.has_message("work", "<m1@example.com>")
    assert store.get_meta("health:work")["ok"] is False
    store.close()


def test_a_kill_between_the_two_writes_leaves_the_pass_file_ahead_never_behind(db_path, monkeypatch):
    store = TinyDBStore(db_path)
    store.set_meta("health:work", {"ok": False, "error": "zora@example.org refused"})
    # The process dies before the main file is replaced.
    fail_writes_to(monkeypatch, "kept.json", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt), store.transaction():
        store.put_message(make_message())
        store.set_meta("health:work", {"ok": True})
    monkeypatch.undo()
    store.close()
    assert b"zora" not in (db_path.parent / "kept.pass.json").read_bytes()
    reopened = TinyDBStore(db_path)
    assert reopened.get_meta("health:work") == {"ok": True}
    assert not reopened.has_message("work", "<m1@example.com>")  # read again by the next scan
    reopened.close()


def test_pass_values_a_main_file_holds_win_over_the_pass_file(db_path):
    """An older kept run after this one wrote them into the main file: they are the newer."""
    store = TinyDBStore(db_path)
    store.set_meta("last_scan", "2026-01-01")
    store.set_meta("health:work", {"ok": False, "error": "auth failed"})
    store.close()
    document = json.loads(db_path.read_text())
    document["meta"]["last_scan"] = {"value": "2026-03-01"}
    document["meta"]["health:work"] = {"value": {"ok": True}}
    db_path.write_text(json.dumps(document))
    store = TinyDBStore(db_path)
    assert store.get_meta("last_scan") == "2026-03-01"
    assert store.get_meta("health:work") == {"ok": True}
    store.set_meta("muted_contacts", [])  # the next commit moves them to the pass file
    store.close()
    store = TinyDBStore(db_path)
    assert store.get_meta("last_scan") == "2026-03-01"
    assert "last_scan" not in json.loads(db_path.read_text())["meta"]
    store.close()


def test_a_pass_file_written_by_another_process_is_read_without_the_main_file(db_path, monkeypatch):
    first, second = TinyDBStore(db_path), TinyDBStore(db_path)
    first.put_message(make_message())
    assert second.has_message("work", "<m1@example.com>")
    loads = count_loads(monkeypatch)
    first.set_meta("last_scan", "one")
    first.set_meta("health:work", {"ok": True})
    assert second.get_meta("last_scan") == "one"
    assert second.get_meta("health:work") == {"ok": True}
    assert loads == []
    first.close()
    second.close()


def test_a_pass_value_another_process_removed_is_gone_without_reading_the_main_file(db_path, monkeypatch):
    first, second = TinyDBStore(db_path), TinyDBStore(db_path)
    first.put_message(make_message())
    first.set_meta("health:work", {"ok": False, "error": "zora@example.org refused"})
    assert second.get_meta("health:work")["ok"] is False
    loads = count_loads(monkeypatch)
    assert first.forget("zora@example.org")["meta"] == 1  # only the pass file changes
    assert second.get_meta("health:work") is None
    assert second.has_message("work", "<m1@example.com>")
    assert loads == []
    first.close()
    second.close()


def test_a_temporary_left_by_a_killed_pass_write_is_removed(db_path):
    TinyDBStore(db_path).close()
    leftover = db_path.parent / ".kept.pass.json.abc123.tmp"
    leftover.write_text('{"meta": {"health:work": {"value": {"error": "zora@example.org"}}}}')
    TinyDBStore(db_path).close()
    assert not leftover.exists()


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"meta": 3}'])
def test_a_damaged_pass_file_is_ignored_with_a_warning(db_path, caplog, content):
    store = TinyDBStore(db_path)
    store.put_message(make_message())
    store.set_meta("last_scan", "one")
    store.close()
    (db_path.parent / "kept.pass.json").write_bytes(content)
    store = TinyDBStore(db_path)
    assert store.get_meta("last_scan") is None
    assert store.has_message("work", "<m1@example.com>")
    assert "Ignoring" in caplog.text and "kept.pass.json" in caplog.text
    store.set_meta("last_scan", "two")  # and the next pass writes a good one
    store.close()
    assert TinyDBStore(db_path).get_meta("last_scan") == "two"


def test_the_pass_file_of_another_database_is_ignored(db_path, tmp_path):
    store = TinyDBStore(db_path)
    store.set_meta("last_scan", "this database")
    store.close()
    other_path = tmp_path / "other" / "kept.json"
    other = TinyDBStore(other_path)
    other.set_meta("last_scan", "another database")
    other.close()
    # A backup of one file restored beside another database's.
    (db_path.parent / "kept.pass.json").write_bytes((other_path.parent / "kept.pass.json").read_bytes())
    store = TinyDBStore(db_path)
    assert store.get_meta("last_scan") is None
    store.close()


def test_set_aside_moves_the_pass_file_with_the_database(db_path):
    store = TinyDBStore(db_path)
    store.set_meta("last_scan", "old database")
    store.close()
    set_aside(db_path, "broken-1")
    assert (db_path.parent / "kept.pass.json.broken-1").exists()
    assert not (db_path.parent / "kept.pass.json").exists()
    fresh = TinyDBStore(db_path)
    assert fresh.get_meta("last_scan") is None
    fresh.close()


def test_only_pass_keys_go_to_the_pass_file():
    from kept.storage.meta import is_pass_meta

    assert is_pass_meta("last_scan") and is_pass_meta("health:work")
    for key in ("history_before:work", "muted_contacts", "schema_version", "database_id", "promise_revision"):
        assert not is_pass_meta(key)


def test_a_main_file_from_before_the_pass_file_moves_its_pass_values_at_the_first_write(db_path, monkeypatch):
    store = TinyDBStore(db_path)
    store.put_message(make_message())
    store.close()
    document = json.loads(db_path.read_text())
    document["meta"]["last_scan"] = {"value": "from an older kept"}
    db_path.write_text(json.dumps(document))  # one JSON object, as older kepts wrote it
    store = TinyDBStore(db_path)
    assert store.get_meta("last_scan") == "from an older kept"
    writes = count_writes(monkeypatch)
    store.set_meta("last_scan", "now")
    assert [p.name for p in writes] == ["kept.pass.json", "kept.json"]
    assert "last_scan" not in json.loads(db_path.read_text())["meta"]
    store.close()
    assert TinyDBStore(db_path).get_meta("last_scan") == "now"


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
    loads = count_loads(monkeypatch)
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


# -- the message file -----------------------------------------------------


def fill(store, count, start=0, **changes):
    """Store `count` messages (and a thread per ten), one transaction each ten, as a scan would."""
    for first in range(start, start + count, 10):
        with store.transaction():
            ids = [f"<{i}@example.com>" for i in range(first, min(first + 10, start + count))]
            for message_id in ids:
                store.put_message(make_message(message_id, role="sent" if "3" in message_id else "received",
                                               **changes))
            store.put_thread(make_thread(f"t-{first}", tuple(ids)))


def message_ids(store):
    return sorted(m["message_id"] for m in store.export()["messages"])


def file_names(directory):
    return sorted(p.name for p in directory.iterdir())


def test_messages_move_to_the_message_file_and_are_read_from_it(db_path):
    store = TinyDBStore(db_path, hot_messages=25)
    fill(store, 72)
    assert file_names(db_path.parent) == ["kept.json", "kept.json.id", "kept.json.lock", "kept.messages.json"]
    assert mode_of(messages_path(db_path)) == 0o600
    main = json.loads(db_path.read_text())
    assert main["meta"]["schema_version"] == {"value": SCHEMA_VERSION}
    # Moved in batches of at least 25 (the batch that reached 30 moved all 30, then 60): 12 stay hot.
    assert len(main["messages"]) == 12
    archived = json.loads(messages_path(db_path).read_text())
    assert len(archived["messages"]) == 60
    assert archived["meta"]["archive"]["generation"] == main["meta"]["message_archive"]["value"]["generation"] == 2
    expected_counts = store.count_messages()
    store.close()

    store = TinyDBStore(db_path, hot_messages=25)
    assert store.count_messages() == expected_counts
    assert sum(expected_counts.values()) == 72
    for i in (0, 29, 30, 59, 60, 71):
        assert store.has_message("work", f"<{i}@example.com>")
        assert store.get_message("work", f"<{i}@example.com>") == make_message(
            f"<{i}@example.com>", role="sent" if "3" in str(i) else "received", body_text="")
    assert not store.has_message("work", "<72@example.com>")
    assert store.get_message("work", "<72@example.com>") is None
    assert store.thread_key_for_message("work", "<35@example.com>") == "t-30"
    assert message_ids(store) == sorted(f"<{i}@example.com>" for i in range(72))
    store.close()


def test_message_parties_read_both_files_once(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 12)
    # Stored anew after its move to the message file: the main file's copy counts.
    store.put_message(make_message("<4@example.com>", cc=(Address("Kim Ward", "kim.ward@example.com"),)))
    parties = list(store.message_parties())
    assert len(parties) == 12
    assert sum(cc == (Address("Kim Ward", "kim.ward@example.com"),) for _, _, cc in parties) == 1
    assert list(store.message_parties("home")) == []
    store.close()


def test_message_parties_name_a_damaged_message_file(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 12)
    store.close()
    path = messages_path(db_path)
    # A well-formed line of the same length whose recipient's address is a number.
    path.write_text(path.read_text().replace('"john.arnold@enron.com"', "1" * 23, 1))
    store = TinyDBStore(db_path, hot_messages=5)
    with pytest.raises(StorageError, match="damaged"):
        list(store.message_parties())
    store.close()


# -- the party index --------------------------------------------------------


def without_party_index(path):
    """Make the main file at `path` one a kept of schema 2 wrote: no party index."""
    lines = path.read_text().splitlines(keepends=True)
    start = lines.index(',"parties":{\n')
    end = lines.index("}\n", start)
    text = "".join(lines[:start] + lines[end + 1 :])
    assert text.count('"schema_version":{"value":3}') == 1
    path.write_text(text.replace('"schema_version":{"value":3}', '"schema_version":{"value":2}'))


def test_party_index_counts_messages_in_both_files(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 12)
    kim = (Address("Kim Ward", "kim.ward@example.com"),)
    # Stored anew after its move to the message file: its count moves to its new parties.
    store.put_message(make_message("<4@example.com>", cc=kim))
    fill(store, 3, start=12, account="home")
    message = make_message()
    expected = {(message.from_addr, message.to, message.cc): 14, (message.from_addr, message.to, kim): 1}
    assert dict(store.party_counts()) == expected
    assert_party_index_agrees(store)
    store.close()
    store = TinyDBStore(db_path, hot_messages=5)
    assert dict(store.party_counts()) == expected
    assert dict(store.party_counts("home")) == {(message.from_addr, message.to, message.cc): 3}
    assert_party_index_agrees(store)
    assert sorted(store.export()["parties"], key=lambda entry: entry["count"]) == [
        {"account": "work", "from_addr": {"name": "Phillip Allen", "email": "phillip.allen@enron.com"},
         "to": [{"name": "", "email": "john.arnold@enron.com"}, {"name": "Ina Rangel", "email": "ina.rangel@enron.com"}],
         "cc": [{"name": "Kim Ward", "email": "kim.ward@example.com"}], "count": 1},
        {"account": "home", "from_addr": {"name": "Phillip Allen", "email": "phillip.allen@enron.com"},
         "to": [{"name": "", "email": "john.arnold@enron.com"}, {"name": "Ina Rangel", "email": "ina.rangel@enron.com"}],
         "cc": [{"name": "", "email": "jane@example.com"}], "count": 3},
        {"account": "work", "from_addr": {"name": "Phillip Allen", "email": "phillip.allen@enron.com"},
         "to": [{"name": "", "email": "john.arnold@enron.com"}, {"name": "Ina Rangel", "email": "ina.rangel@enron.com"}],
         "cc": [{"name": "", "email": "jane@example.com"}], "count": 11},
    ]
    store.close()


def test_a_database_without_a_party_index_gets_one_at_its_first_write(db_path, monkeypatch, caplog):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 12)
    store.put_message(make_message("<4@example.com>", cc=()))  # in both files
    expected = dict(store.party_counts())
    store.close()
    without_party_index(db_path)
    before = db_path.read_bytes()
    writes = count_writes(monkeypatch)

    store = TinyDBStore(db_path, hot_messages=5)
    assert store.get_meta("schema_version") == 2
    # Counted from the messages until then; reading writes nothing.
    assert dict(store.party_counts()) == expected
    assert writes == [] and db_path.read_bytes() == before
    with caplog.at_level(logging.INFO, logger="kept.storage.main_file"):
        with store.transaction():
            store.put_message(make_message("<new@example.com>"))  # counted by the build, not twice
            store.set_meta("touched", True)
    assert len(writes) == 1
    assert sum("Indexed 2 distinct" in record.getMessage() for record in caplog.records) == 1
    assert store.get_meta("schema_version") == SCHEMA_VERSION == 3
    message = make_message()
    expected[message.from_addr, message.to, message.cc] += 1
    assert dict(store.party_counts()) == expected
    store.close()

    store = TinyDBStore(db_path, hot_messages=5)
    assert '"parties":{' in db_path.read_text()
    assert dict(store.party_counts()) == expected
    store.put_message(make_message("<newer@example.com>", cc=()))  # kept up to date from now on
    assert_party_index_agrees(store)
    store.close()


def test_a_failed_first_write_leaves_the_database_without_a_party_index(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 12)
    store.close()
    without_party_index(db_path)
    store = TinyDBStore(db_path, hot_messages=5)
    with pytest.raises(Boom), store.transaction():
        store.put_message(make_message("<new@example.com>"))
        raise Boom
    assert store.get_meta("schema_version") == 2
    store.put_message(make_message("<new@example.com>", cc=()))
    assert store.get_meta("schema_version") == 3
    assert_party_index_agrees(store)
    store.close()


def _store_in_another_process(path, worker: int) -> None:
    store = TinyDBStore(path, hot_messages=5)
    for i in range(20):
        cc = () if i % 2 else (Address("", f"w{worker}@x"),)
        store.put_message(make_message(f"<{worker}-{i}@example.com>", cc=cc))
    store.close()


def test_two_processes_upgrading_at_once_build_the_party_index_once(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 30)
    store.close()
    without_party_index(db_path)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_store_in_another_process, args=(db_path, n)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    store = TinyDBStore(db_path, hot_messages=5)
    assert sum(count for _, count in store.party_counts()) == 70
    assert_party_index_agrees(store)
    store.close()


def test_a_damaged_party_index_is_reported(db_path):
    store = TinyDBStore(db_path)
    store.put_message(make_message())
    store.close()
    db_path.write_text(db_path.read_text().replace('{"count":1}', '{"count":0}'))
    store = TinyDBStore(db_path)
    with pytest.raises(StorageError, match="party index"):
        list(store.party_counts())
    store.close()


def test_plain_tinydb_can_read_both_files(db_path):
    from tinydb import TinyDB

    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 12)
    store.close()
    with TinyDB(messages_path(db_path)) as plain:
        assert len(plain.table("messages")) == 10
        assert plain.table("messages").get(doc_id='["work", "<3@example.com>"]')["role"] == "sent"
    with TinyDB(db_path) as plain:
        assert len(plain.table("messages")) == 2
        assert plain.table("threads").get(doc_id="t-10")["messages"][1]["message_id"] == "<11@example.com>"


def test_a_stored_message_is_not_moved_or_written_again(db_path, monkeypatch):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    writes = count_writes(monkeypatch)
    with store.transaction():  # a rescan of the same mail, now in the message file
        for i in range(10):
            assert not store.put_message(
                make_message(f"<{i}@example.com>", role="sent" if "3" in str(i) else "received"))
    assert writes == []
    store.close()


def test_a_replaced_message_leaves_the_message_file_at_the_next_move(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    assert store.count_messages() == {"sent": 1, "received": 9}
    assert not store.put_message(make_message("<4@example.com>", role="sent", subject="changed"))
    assert store.get_message("work", "<4@example.com>").subject == "changed"
    assert store.count_messages() == {"sent": 2, "received": 8}
    fill(store, 10, start=10)  # the next move
    assert store.get_message("work", "<4@example.com>").subject == "changed"
    assert store.count_messages() == {"sent": 3, "received": 17}
    lines = messages_path(db_path).read_text().splitlines()[1:-1]  # without the index
    assert len(lines) == 20 and sum("<4@example.com>" in line for line in lines) == 1
    store.close()
    reopened = TinyDBStore(db_path, hot_messages=5)
    assert reopened.get_message("work", "<4@example.com>").subject == "changed"
    assert message_ids(reopened) == sorted(f"<{i}@example.com>" for i in range(20))
    reopened.close()


def test_crash_before_the_main_file_is_written_keeps_the_old_state(db_path, monkeypatch):
    """Step 1 of a move done (.next written), step 2 (the main file) fails: nothing changed."""
    store = TinyDBStore(db_path, hot_messages=10)
    fill(store, 10)  # moved: generation 1
    fill(store, 9, start=10)  # hot
    main_before = db_path.read_bytes()
    messages_before = messages_path(db_path).read_bytes()

    def main_write_fails(path, payload, mtime_ns):
        assert messages_path(db_path).with_name("kept.messages.json.next").exists()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tinydb_store, "_write_atomically", main_write_fails)
    with pytest.raises(StorageError, match="disk is full"):
        fill(store, 1, start=19)
    monkeypatch.undo()
    assert db_path.read_bytes() == main_before
    assert messages_path(db_path).read_bytes() == messages_before
    # What a killed process would leave: the unfinished .next (recreated here, since the failed commit cleaned up).
    next_file = messages_path(db_path).with_name("kept.messages.json.next")
    next_file.write_bytes(b'{"messages":{\n"half a line')
    store.close()

    reopened = TinyDBStore(db_path, hot_messages=10)
    assert not next_file.exists()
    assert message_ids(reopened) == sorted(f"<{i}@example.com>" for i in range(19))
    fill(reopened, 1, start=19)  # the move happens now
    assert json.loads(db_path.read_text())["messages"] == {}
    assert message_ids(reopened) == sorted(f"<{i}@example.com>" for i in range(20))
    reopened.close()


def test_crash_between_the_main_file_and_the_rename_is_finished_on_opening(db_path, monkeypatch):
    """Steps 1 and 2 of a move done, the rename of .next (step 3) never happened."""
    store = TinyDBStore(db_path, hot_messages=10)
    fill(store, 10)
    fill(store, 9, start=10)
    monkeypatch.setattr(tinydb_store._MessageFile, "promote", lambda self: None)  # killed just before
    fill(store, 1, start=19)
    monkeypatch.undo()
    next_file = messages_path(db_path).with_name("kept.messages.json.next")
    assert next_file.exists()
    assert json.loads(db_path.read_text())["meta"]["message_archive"]["value"]["generation"] == 2
    assert json.loads(messages_path(db_path).read_text())["meta"]["archive"]["generation"] == 1

    other = TinyDBStore(db_path, hot_messages=10)  # the next process
    assert not next_file.exists()
    assert json.loads(messages_path(db_path).read_text())["meta"]["archive"]["generation"] == 2
    assert message_ids(other) == sorted(f"<{i}@example.com>" for i in range(20))
    other.close()
    # The first store reads the renamed file too.
    assert store.get_message("work", "<12@example.com>").message_id == "<12@example.com>"
    store.close()


@pytest.mark.parametrize("other_opens_first", [False, True])
def test_a_failed_rename_is_finished_by_the_next_move(db_path, monkeypatch, caplog, other_opens_first):
    store = TinyDBStore(db_path, hot_messages=10)
    fill(store, 10)
    real_replace = os.replace

    def replace_fails_for_next(source, target):
        if str(source).endswith(".next"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_replace(source, target)

    monkeypatch.setattr(tinydb_store.os, "replace", replace_fails_for_next)
    with caplog.at_level(logging.WARNING, logger="kept.storage.tinydb_store"):
        fill(store, 10, start=10)
    assert "Cannot rename" in caplog.text
    monkeypatch.undo()
    assert store.get_message("work", "<15@example.com>") is not None  # read from .next
    if other_opens_first:  # another kept process finishes the rename first
        TinyDBStore(db_path).close()
        assert not messages_path(db_path).with_name("kept.messages.json.next").exists()
    fill(store, 10, start=20)
    assert not messages_path(db_path).with_name("kept.messages.json.next").exists()
    store.close()
    reopened = TinyDBStore(db_path, hot_messages=10)
    assert message_ids(reopened) == sorted(f"<{i}@example.com>" for i in range(30))
    reopened.close()


def test_a_pending_rename_never_puts_another_process_s_unfinished_file_in_place(db_path, monkeypatch):
    """A's rename of .next failed; B finished it, then left a .next of its own (its main file write failed).

    A's next move must not rename B's .next into place: the main file does
    not point to it, so a failure before A's main file write would leave a
    message file no main file matches.
    """
    store = TinyDBStore(db_path, hot_messages=10)
    fill(store, 10)
    real_replace = os.replace

    def replace_fails_for_next(source, target):
        if str(source).endswith(".next"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_replace(source, target)

    monkeypatch.setattr(tinydb_store.os, "replace", replace_fails_for_next)
    fill(store, 10, start=10)  # generation 2 stays .next
    monkeypatch.undo()
    other = TinyDBStore(db_path, hot_messages=10)  # renames generation 2 into place
    real_write = tinydb_store._write_atomically

    def main_file_disk_full(path, payload, mtime_ns):
        if path == db_path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(path, payload, mtime_ns)

    monkeypatch.setattr(tinydb_store, "_write_atomically", main_file_disk_full)
    with pytest.raises(StorageError, match="disk is full"):
        fill(other, 10, start=20)  # leaves its generation 3 as .next
    other.close()
    with pytest.raises(StorageError, match="disk is full"):
        fill(store, 10, start=30)
    monkeypatch.undo()
    store.close()
    reopened = TinyDBStore(db_path, hot_messages=10)
    assert message_ids(reopened) == sorted(f"<{i}@example.com>" for i in range(20))
    reopened.close()


@pytest.mark.parametrize("damage", ["delete", "other database", "truncate"])
def test_a_missing_or_foreign_message_file_is_refused(db_path, tmp_path, damage):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    store.close()
    path = messages_path(db_path)
    if damage == "delete":
        path.unlink()
    elif damage == "other database":
        other = TinyDBStore(tmp_path / "other" / "kept.json", hot_messages=5)
        fill(other, 10)
        other.close()
        path.write_bytes(messages_path(other.path).read_bytes())
    else:
        path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(StorageError, match="damaged") as caught:
        TinyDBStore(db_path)
    assert "kept rebuild" in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("index", [
    b'{"work":{"<1@example.com>":"x"}}', b'{"work":[', b"[]", b'{"work":{"<1@example.com>":1.5}}',
    b"{\x00}\x00",  # UTF-16 for "{}" to a guesser of encodings: not an empty index
    b'\xef\xbb\xbf{"work":{}}',  # a byte order mark
])
def test_a_damaged_index_is_reported_when_first_used_not_at_opening(db_path, index):
    """Opening checks whose message file it is; the index itself is decoded, and checked, when first needed."""
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    store.set_cursor("work", "INBOX", {"last_uid": 7})
    store.close()
    path = messages_path(db_path)
    lines, trailer = path.read_bytes().rsplit(b'"index":', 1)
    assert trailer.endswith(b"}}}\n")
    path.write_bytes(lines + b'"index":' + index + b"}}}\n")
    store = TinyDBStore(db_path)
    # A pass that finds nothing new reads its cursors and meta, never the index.
    assert store.get_cursor("work", "INBOX") == {"last_uid": 7}
    for use in (lambda: store.has_message("work", "<1@example.com>"), store.count_messages, store.export):
        with pytest.raises(StorageError, match="the index of .* is not a table of accounts") as caught:
            use()
        assert "kept rebuild" in str(caught.value)
    store.close()


def test_a_damaged_index_stops_a_commit_that_moves_messages_before_anything_is_written(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)  # in the message file
    store.close()
    store = TinyDBStore(db_path, hot_messages=100)
    fill(store, 10, start=10)  # hot: at a limit of 5, the next commit moves them
    store.close()
    path = messages_path(db_path)
    lines, _ = path.read_bytes().rsplit(b'"index":', 1)
    path.write_bytes(lines + b'"index":{"work":[}}}\n')
    before = {p.name: p.read_bytes() for p in db_path.parent.iterdir() if p.is_file()}
    store = TinyDBStore(db_path, hot_messages=5)
    with pytest.raises(StorageError, match="is not a table of accounts"):
        with store.transaction():
            store.set_meta("last_scan", "2026-12-08T00:00:00+00:00")  # what every pass writes (the pass file)
            store.set_cursor("work", "INBOX", {"last_uid": 9})
    store.close()
    assert {p.name: p.read_bytes() for p in db_path.parent.iterdir() if p.is_file()} == before


def test_an_archive_document_laid_out_otherwise_is_read_whole(db_path):
    """A message file whose last line another writer spaced or reordered still opens, and its index still counts."""
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    expected = store.count_messages()
    store.close()
    path = messages_path(db_path)
    lines, trailer = path.read_text().rsplit('"archive":', 1)
    archive = json.loads(trailer.removesuffix("}}\n"))
    reordered = {"index": archive["index"], **{k: v for k, v in archive.items() if k != "index"}}
    path.write_text(lines + '"archive":' + json.dumps(reordered, indent=1) + "}}\n")
    store = TinyDBStore(db_path)
    assert store.count_messages() == expected
    assert store.has_message("work", "<1@example.com>")
    store.close()
    # Laid out as kept writes it, but for a key after the index (a later kept's, say).
    path.write_text(lines + '"archive":' + json.dumps({**archive, "extra": 1}, separators=(",", ":")) + "}}\n")
    store = TinyDBStore(db_path)
    assert store.count_messages() == expected
    store.close()
    # Only a number that is the main file's generation (1 here) names the file: not "1", true or 1.0.
    assert archive["generation"] == 1
    for generation in ('"1"', "true", "1.0"):
        path.write_text(lines + '"archive":' + json.dumps({**reordered, "generation": None}).replace(
            '"generation": null', f'"generation": {generation}') + "}}\n")
        with pytest.raises(StorageError, match="damaged"):
            TinyDBStore(db_path)


def test_a_line_that_does_not_match_the_index_is_reported_when_read(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    store.close()
    path = messages_path(db_path)
    # Swap two message ids of equal length in the lines, not in the index.
    text = path.read_text()
    lines, trailer = text.rsplit("\n}", 1)
    lines = lines.replace("<1@example.com>", "<X@example.com>")
    path.write_text(lines + "\n}" + trailer)
    store = TinyDBStore(db_path)
    assert store.has_message("work", "<1@example.com>")
    with pytest.raises(StorageError, match="kept rebuild"):
        store.get_message("work", "<1@example.com>")
    store.close()


@pytest.mark.parametrize("entry", [-6, 10**9, "another line"])
def test_an_index_entry_that_points_nowhere_is_reported_not_skipped(db_path, entry):
    """A damaged index entry is a StorageError when read, and export and forget do not pass over its message."""
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    store.close()
    path = messages_path(db_path)
    lines, trailer = path.read_text().rsplit('"archive":', 1)
    archive = json.loads(trailer.removesuffix("}}\n"))
    index = archive["index"]["work"]
    index["<1@example.com>"] = index["<2@example.com>"] + 4 if entry == "another line" else entry
    path.write_text(lines + '"archive":' + json.dumps(archive) + "}}\n")
    store = TinyDBStore(db_path)
    assert store.has_message("work", "<1@example.com>")
    with pytest.raises(StorageError, match="kept rebuild"):
        store.get_message("work", "<1@example.com>")
    with pytest.raises(StorageError, match="kept rebuild"):
        store.export()
    with pytest.raises(StorageError, match="kept rebuild"):
        store.forget("nobody@example.org")  # a rewrite would drop the message
    store.close()


def test_set_aside_moves_the_message_file_too(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    store.close()
    set_aside(db_path, "broken-1")
    # The note stays until the rebuild has carried over what it keeps (kept.daemon.rebuild).
    assert file_names(db_path.parent) == [
        "kept.json.broken-1", "kept.json.id.broken-1", "kept.json.lock", "kept.json.rebuilding",
        "kept.messages.json.broken-1"]
    drop_rebuild_note(db_path)
    assert "kept.json.rebuilding" not in file_names(db_path.parent)
    store = TinyDBStore(db_path, hot_messages=5)
    assert store.count_messages() == {"sent": 0, "received": 0}
    fill(store, 10)
    assert message_ids(store) == sorted(f"<{i}@example.com>" for i in range(10))
    store.close()


def test_a_set_aside_killed_between_two_renames_is_finished_from_its_note(db_path, monkeypatch):
    """kept rebuild killed after it moved the main file: the rest follows it, under the same suffix."""
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    store.close()
    real_rename = type(db_path).rename

    def rename(self, target):
        if self.name == "kept.messages.json":
            raise KeyboardInterrupt  # the process dies here
        return real_rename(self, target)

    monkeypatch.setattr(type(db_path), "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        set_aside(db_path, "broken-1")
    monkeypatch.undo()
    assert file_names(db_path.parent) == [
        "kept.json.broken-1", "kept.json.id", "kept.json.lock", "kept.json.rebuilding", "kept.messages.json"]
    assert interrupted_set_aside(db_path) == db_path.with_name("kept.json.broken-1")
    assert file_names(db_path.parent) == [
        "kept.json.broken-1", "kept.json.id.broken-1", "kept.json.lock", "kept.json.rebuilding",
        "kept.messages.json.broken-1"]
    # Once moved, a new database is the new one: a second look moves nothing.
    TinyDBStore(db_path).close()
    assert interrupted_set_aside(db_path) == db_path.with_name("kept.json.broken-1")
    assert {"kept.json", "kept.json.id", "kept.json.id.broken-1"} <= set(file_names(db_path.parent))
    drop_rebuild_note(db_path)
    assert interrupted_set_aside(db_path) is None


def test_a_note_from_before_the_first_rename_leaves_the_database_where_it_is(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    store.close()
    before = file_names(db_path.parent)
    note = db_path.with_name("kept.json.rebuilding")
    note.write_text(json.dumps({"suffix": "broken-1", "files": ["kept.json", "kept.json.id"]}))
    assert interrupted_set_aside(db_path) is None
    assert file_names(db_path.parent) == before
    note.write_text("not a note")
    assert interrupted_set_aside(db_path) is None
    assert file_names(db_path.parent) == before


def test_set_aside_waits_for_the_lock(db_path):
    """A daemon in the middle of a move must not have its files moved from under it (kept rebuild)."""
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    store.close()
    before = file_names(db_path.parent)
    with filelock.FileLock(str(store.lock_path), thread_local=False):
        with pytest.raises(StorageError, match="locked"):
            set_aside(db_path, "broken-1", lock_timeout=0.2)
    assert file_names(db_path.parent) == before


def test_set_aside_reports_a_failed_rename(db_path, monkeypatch):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    store.close()
    real_rename = type(db_path).rename

    def rename(self, target):
        if self.name == "kept.messages.json":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_rename(self, target)

    monkeypatch.setattr(type(db_path), "rename", rename)
    with pytest.raises(StorageError, match="kept.messages.json") as caught:
        set_aside(db_path, "broken-1")
    assert caught.value.hint


def test_wide_permissions_of_the_message_file_are_reported(db_path, caplog):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    store.close()
    os.chmod(messages_path(db_path), 0o644)
    with caplog.at_level(logging.WARNING, logger="kept.storage.tinydb_store"):
        TinyDBStore(db_path).close()
    assert any(str(messages_path(db_path)) in r.getMessage() and "0644" in r.getMessage() for r in caplog.records)


def test_forget_rewrites_the_message_file_without_the_person(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10)
    fill(store, 10, start=10, cc=(Address("", "bob@example.org"),))
    fill(store, 3, start=20)
    assert "bob@example.org" in messages_path(db_path).read_text()
    with pytest.raises(Boom), store.transaction():  # undone: nothing forgotten
        store.forget("bob@example.org")
        raise Boom
    assert store.has_message("work", "<12@example.com>")
    removed = store.forget("bob@example.org")
    assert removed == {"messages": 10}
    for path in (db_path, messages_path(db_path)):
        assert "bob@example.org" not in path.read_text()
    assert not store.has_message("work", "<12@example.com>")
    assert store.count_messages() == {"sent": 1, "received": 12}
    assert_party_index_agrees(store)
    store.close()
    reopened = TinyDBStore(db_path, hot_messages=5)
    assert message_ids(reopened) == sorted(f"<{i}@example.com>" for i in [*range(10), 20, 21, 22])
    message = make_message()
    assert list(reopened.party_counts()) == [((message.from_addr, message.to, message.cc), 13)]
    reopened.close()


def test_forget_removes_a_message_whose_older_copy_in_the_message_file_names_the_person(db_path):
    """A message stored anew (without Bob) after its copy naming Bob moved to the message file is forgotten whole."""
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10, cc=(Address("", "bob@example.org"),))
    assert "bob@example.org" in messages_path(db_path).read_text()
    with store.transaction():
        store.put_message(make_message("<3@example.com>", role="sent"))
    removed = store.forget("bob@example.org")
    assert removed["messages"] == 10
    for path in (db_path, messages_path(db_path)):
        assert "bob@example.org" not in path.read_text()
    assert not store.has_message("work", "<3@example.com>")
    assert_party_index_agrees(store)
    store.close()


def test_forget_gives_the_promises_a_new_revision_only_when_it_removes_one(db_path):
    store = TinyDBStore(db_path)
    store.put_promise(make_promise("p-1", counterparties=("bob@example.org",)))
    store.put_promise(make_promise("p-2", counterparties=("ann@example.org",)))
    before = promise_revision(store)
    store.forget("nobody@example.org")
    assert promise_revision(store) == before
    store.forget("bob@example.org")
    assert promise_revision(store) not in (None, before)
    assert [p.id for p in store.promises()] == ["p-2"]
    store.close()


def test_forget_in_a_failed_inner_transaction_is_undone(db_path):
    store = TinyDBStore(db_path, hot_messages=5)
    fill(store, 10, cc=(Address("", "bob@example.org"),))
    with store.transaction():
        with pytest.raises(Boom), store.transaction():
            store.forget("bob@example.org")
            assert not store.has_message("work", "<1@example.com>")
            raise Boom
        assert store.has_message("work", "<1@example.com>")
        assert store.thread_key_for_message("work", "<1@example.com>") == "t-0"
    store.close()
    reopened = TinyDBStore(db_path)
    assert message_ids(reopened) == sorted(f"<{i}@example.com>" for i in range(10))
    reopened.close()


# -- files of older versions ----------------------------------------------


def write_schema_1_file(path, messages, threads):
    """A database as kept wrote it before the message file: one line, schema 1, every message inside."""
    data = {
        "messages": {json.dumps([m.account, m.message_id]): to_json(m) for m in messages},
        "threads": {t.key: to_json(t) for t in threads},
        "promises": {"p-1": to_json(make_promise())},
        "cursors": {json.dumps(["work", "INBOX"]): {"account": "work", "folder": "INBOX", "cursor": {"uid": 7}}},
        "meta": {"schema_version": {"value": 1}, "database_id": {"value": "0" * 32}},
        "introductions": {},
        "leads": {},
    }
    path.parent.mkdir(mode=0o700)
    path.write_text(json.dumps(data, ensure_ascii=True, separators=(",", ":")))
    os.chmod(path, 0o600)
    marker_path(path).write_text(json.dumps({"database_id": "0" * 32, "database": path.name}) + "\n")


def test_a_schema_1_file_opens_and_takes_the_new_layout_at_the_first_write(db_path, monkeypatch):
    messages = [make_message(f"<{i}@example.com>", body_text="") for i in range(30)]
    write_schema_1_file(db_path, messages, [make_thread("t-1", tuple(m.message_id for m in messages))])
    before = db_path.read_bytes()
    writes = count_writes(monkeypatch)
    store = TinyDBStore(db_path, hot_messages=20)
    assert store.count_messages() == {"sent": 30, "received": 0}
    assert store.get_message("work", "<7@example.com>") == messages[7]
    assert store.thread_key_for_message("work", "<29@example.com>") == "t-1"
    assert store.get_cursor("work", "INBOX") == {"uid": 7}
    assert store.get_meta("schema_version") == 1
    assert writes == [] and db_path.read_bytes() == before  # reading changes nothing
    store.set_cursor("work", "INBOX", {"uid": 8})
    assert len(writes) == 1
    assert store.get_meta("schema_version") == SCHEMA_VERSION == 3
    message = messages[0]
    assert list(store.party_counts()) == [((message.from_addr, message.to, message.cc), 30)]
    store.close()

    lines = db_path.read_text().splitlines()
    assert lines[0] == '{"messages":{' and lines[1] == "}" and lines[-1] == "}"
    assert len(json.loads(messages_path(db_path).read_text())["messages"]) == 30
    store = TinyDBStore(db_path, hot_messages=20)
    assert [store.get_message("work", m.message_id) for m in messages] == messages
    assert store.get_promise("p-1") == make_promise()
    assert store.get_cursor("work", "INBOX") == {"uid": 8}
    store.close()


def test_a_schema_1_file_below_the_limit_keeps_its_messages_in_the_main_file(db_path):
    messages = [make_message(f"<{i}@example.com>", body_text="") for i in range(3)]
    write_schema_1_file(db_path, messages, [])
    store = TinyDBStore(db_path)
    store.set_meta("touched", True)
    store.close()
    assert not messages_path(db_path).exists()
    data = json.loads(db_path.read_text())
    assert data["meta"]["schema_version"] == {"value": SCHEMA_VERSION} and len(data["messages"]) == 3


def _fill_forever(path, start: int) -> None:
    store = TinyDBStore(path, hot_messages=30)
    number = start
    while True:
        with store.transaction():
            for i in range(number, number + 10):
                store.put_message(make_message(f"<{i}@example.com>"))
            store.set_meta("next", number + 10)
        number += 10


@pytest.mark.slow
def test_kill_9_during_two_file_commits_never_loses_or_tears_a_transaction(db_path):
    """A writer moving messages every third commit is SIGKILLed at random moments, 40 times.

    After every kill the database opens, and holds exactly the messages of
    the transactions that committed: 0 .. meta "next", none half-stored.
    """
    import random
    import signal
    import time

    rng = random.Random(7)
    TinyDBStore(db_path).close()
    context = multiprocessing.get_context("fork")
    stored = 0
    for _ in range(40):
        writer = context.Process(target=_fill_forever, args=(db_path, stored))
        writer.start()
        time.sleep(rng.uniform(0.05, 0.4))
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
        store = TinyDBStore(db_path, hot_messages=30)
        committed = store.get_meta("next", 0)
        assert committed >= stored
        assert store.count_messages()["sent"] == committed
        assert message_ids(store) == sorted(f"<{i}@example.com>" for i in range(committed))
        store.close()
        stored = committed
    assert stored > 300, "the writer must have moved messages many times"


def test_threads_are_indexed_on_first_use_not_on_opening(db_path):
    store = TinyDBStore(db_path)
    with store.transaction():
        for i in range(5):
            store.put_thread(make_thread(f"t-{i}", (f"<{i}>",)))
            store.put_message(make_message(f"<{i}>"))
    store.close()
    store = TinyDBStore(db_path)
    assert store.has_message("work", "<3>") and store.count_messages()["sent"] == 5
    assert store.get_thread("t-3") == make_thread("t-3", ("<3>",))
    assert not store._storage.threads_indexed  # a scan with nothing new gets this far
    assert store.thread_key_for_message("work", "<3>") == "t-3"
    assert store._storage.threads_indexed
    store.close()


@pytest.mark.parametrize("damage", ['"t-1":{"key":"t-1"}', '"t-1":{"key":"t-1","account":'])
def test_a_damaged_thread_line_is_reported_when_the_threads_are_indexed(db_path, damage):
    store = TinyDBStore(db_path)
    store.put_thread(make_thread("t-1"))
    store.set_meta("x", 1)
    store.close()
    lines = db_path.read_text().splitlines()
    lines = [damage if line.startswith('"t-1":') else line for line in lines]
    db_path.write_text("\n".join(lines) + "\n")
    store = TinyDBStore(db_path)
    assert store.get_meta("x") == 1
    with pytest.raises(StorageError, match="damaged") as caught:
        store.thread_key_for_message("work", "<m1@example.com>")
    assert "kept rebuild" in str(caught.value)
    store.close()


READINGS = {
    "all of them": lambda store, table: list(store.promises() if table == "promises" else store.threads()),
    "one": lambda store, table: store.get_promise("p-1") if table == "promises" else store.get_thread("t-1"),
    "kept export": lambda store, table: store.export(),
    "kept forget": lambda store, table: store.forget("nobody@example.org"),
}


@pytest.mark.parametrize("reading", READINGS)
@pytest.mark.parametrize("table", ["promises", "threads"])
def test_a_damaged_promise_or_thread_line_is_reported_when_read(db_path, table, reading):
    """Promise and thread lines are kept as text until read (`kept.storage.main_file`):
    one that holds no document is damage, reported with the fix and where it is."""
    store = TinyDBStore(db_path)
    store.put_promise(make_promise())
    store.put_thread(make_thread("t-1"))
    store.set_meta("x", 1)
    store.close()
    key = '"p-1":' if table == "promises" else '"t-1":'
    lines = [f"{key}{{\"id\":" if line.startswith(key) else line for line in db_path.read_text().splitlines()]
    db_path.write_text("\n".join(lines) + "\n")
    store = TinyDBStore(db_path)
    assert store.get_meta("x") == 1
    with pytest.raises(StorageError, match="damaged") as caught:
        READINGS[reading](store, table)
    assert "kept rebuild" in str(caught.value)
    assert reading == "one" or f"the {table} document" in str(caught.value)
    store.close()


def test_promises_are_held_as_their_lines_and_a_line_written_another_way_stays(db_path):
    store = TinyDBStore(db_path)
    store.put_promise(make_promise())
    store.close()
    # The same promise as a person (or an older kept) might write it: other spacing and order.
    document = to_json(make_promise())
    respelled = '"p-1": ' + json.dumps(dict(reversed(list(document.items()))))
    text = db_path.read_text()
    (line,) = [line for line in text.splitlines() if line.startswith('"p-1":')]
    db_path.write_text(text.replace(line, respelled))
    store = TinyDBStore(db_path)
    with store.transaction():
        assert isinstance(store._storage.read()["promises"]["p-1"], str)  # not a dict: a quarter of the memory
        revision = promise_revision(store)
        assert store.put_promise(make_promise()) is False
        assert promise_revision(store) == revision  # the same promise again changes nothing
        store.set_meta("x", 1)  # a commit that rewrites the file
    assert store.get_promise("p-1") == make_promise()
    store.close()
    assert respelled in db_path.read_text().splitlines()
    store = TinyDBStore(db_path)
    changed = dataclasses.replace(make_promise(), status="done")
    with store.transaction():
        revision = promise_revision(store)
        assert store.put_promise(changed) is False
        assert promise_revision(store) != revision
    assert store.get_promise("p-1") == changed
    store.close()


def test_export_writes_every_field_of_a_threads_messages(db_path):
    """Stored threads leave out fields at their default (`kept.storage.serialize`); the export does not."""
    store = TinyDBStore(db_path)
    store.put_thread(make_thread("t-1"))
    (message,) = store.export()["threads"][0]["messages"]
    assert list(message) == [f.name for f in dataclasses.fields(ThreadMessage)]
    assert message["automated"] is False and message["needs_reply"] is True
    assert message["addressed"] == [] and message["asks_until"] is None
    store.close()


@pytest.mark.parametrize("failing", ["fsync", "copy_file_range"])
def test_a_full_disk_while_moving_messages_keeps_both_files(db_path, monkeypatch, failing):
    store = TinyDBStore(db_path, hot_messages=10)
    fill(store, 10)  # the first move
    fill(store, 9, start=10)
    before = {path.name: path.read_bytes() for path in (db_path, messages_path(db_path))}

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tinydb_store.os, failing, disk_full)
    with pytest.raises(StorageError, match="disk is full"):
        fill(store, 1, start=19)  # the second move fails while writing .next
    monkeypatch.undo()
    assert {path.name: path.read_bytes() for path in (db_path, messages_path(db_path))} == before
    assert file_names(db_path.parent) == ["kept.json", "kept.json.id", "kept.json.lock", "kept.messages.json"]
    assert not store.has_message("work", "<19@example.com>")
    fill(store, 1, start=19)  # the disk has room again
    assert message_ids(store) == sorted(f"<{i}@example.com>" for i in range(20))
    store.close()


@pytest.mark.parametrize(
    "text",
    [
        '"k":{"a":1}',
        '"k":{"a":1}  ',
        '"k": {"a":1}',
        '"k":{"a":[1,2,{"b":null}]}',
        '"k":[1]',
        '"k":{"a":1}x',
        '"k":',
        '"k":{"a":',
        '"k"{"a":1}',
        'k:{"a":1}',
        '"k":\ufeff{"a":1}',
    ],
)
def test_member_document_reads_as_json_loads(text):
    """`member_document` scans a member line in place; what it gives or refuses is json.loads's."""
    from kept.storage.lines import member_document, split_member

    try:
        expected = ("document", json.loads(split_member(text)[1]))
    except ValueError:
        expected = ("error", None)
    else:
        if not isinstance(expected[1], dict):
            expected = ("error", None)
    try:
        found = ("document", member_document(text))
    except ValueError:
        found = ("error", None)
    assert found == expected


@given(st.text(max_size=12), st.text(alphabet=st.characters(max_codepoint=0x80), max_size=12))
def test_pair_key_is_json_dumps(first, second):
    from kept.storage.lines import pair_key

    assert pair_key(first, second) == json.dumps([first, second])
    assert pair_key(second, first) == json.dumps([second, first])
    assert pair_key("work", "<a.b@host>") == json.dumps(["work", "<a.b@host>"])


def _without_random_values(path):
    """The file's bytes with its database id and promise revision (random) taken out."""
    store = TinyDBStore(path)
    random = [store.get_meta("database_id"), store.get_meta(PROMISE_REVISION)]
    store.close()
    content = path.read_bytes()
    for value in random:
        content = content.replace(value.encode(), b"")
    return content


def _a_store_with_every_lazy_table(db_path):
    store = TinyDBStore(db_path)
    with store.transaction():
        for i in range(3):
            store.put_thread(make_thread(f"t-{i}", (f"<{i}>",)))
            store.put_message(make_message(f"<{i}>"))
        store.put_promise(make_promise())
        store.set_meta("x", 1)
    store.close()


@pytest.mark.parametrize("first_read", ["nothing", "every table"])
def test_the_lazy_tables_are_split_when_used_and_written_back_as_they_were(db_path, first_read):
    """Threads, promises and the party index stay the lines read until used
    (`kept.storage.main_file`); a commit writes an unused one out unchanged,
    the same bytes as once it was used."""
    _a_store_with_every_lazy_table(db_path)
    store = TinyDBStore(db_path)
    assert store.get_meta("x") == 1 and store.count_messages()["sent"] == 3
    assert sorted(store._storage._unsplit) == ["parties", "promises", "threads"]  # a scan with nothing new gets this far
    if first_read == "every table":
        assert len(list(store.threads())) == 3 and len(list(store.promises())) == 1
        assert len(list(store.party_counts())) > 0
        assert not store._storage._unsplit
    store.set_meta("y", 2)  # not a pass value: the main file is written again
    store.close()
    if first_read == "nothing":
        # The same change after every table was used writes the same file.
        other_path = db_path.parent / "other.json"
        _a_store_with_every_lazy_table(other_path)
        other = TinyDBStore(other_path)
        list(other.threads()), list(other.promises()), list(other.party_counts())
        other.set_meta("y", 2)
        other.close()
        assert _without_random_values(db_path) == _without_random_values(other_path)
    store = TinyDBStore(db_path)
    assert [t.key for t in store.threads()] == ["t-0", "t-1", "t-2"] and store.get_meta("y") == 2
    store.close()


def test_a_lazy_table_line_that_is_not_a_document_line_is_reported_when_the_table_is_used(db_path):
    _a_store_with_every_lazy_table(db_path)
    text = db_path.read_text()
    assert '\n,"t-1":' in text
    db_path.write_text(text.replace('\n,"t-1":', '\n"t-1":'))  # its leading comma lost
    damaged_threads = db_path.read_text().split(',"threads":{\n', 1)[1].split("\n}\n", 1)[0]
    number = 1 + next(i for i, line in enumerate(db_path.read_text().splitlines()) if line.startswith('"t-1":'))
    store = TinyDBStore(db_path)
    assert store.get_meta("x") == 1
    store.set_meta("y", 2)  # the damaged table, unused, is written back as it was
    for _ in range(2):  # and stays damaged: every use reports it
        with pytest.raises(StorageError, match="damaged") as caught:
            list(store.threads())
        assert "kept rebuild" in str(caught.value) and f"line {number} " in str(caught.value)
    assert len(list(store.promises())) == 1
    with store.transaction():  # damage met, and passed over, inside a transaction that goes on to commit
        with pytest.raises(StorageError, match="damaged"):
            store.get_thread("t-0")
        store.set_meta("z", 3)
    store.close()
    # t-0's line was split before the damage was met: it is written back as it was read.
    assert db_path.read_text().split(',"threads":{\n', 1)[1].split("\n}\n", 1)[0] == damaged_threads
    store = TinyDBStore(db_path)
    assert len(list(store.promises())) == 1 and store.get_meta("y") == 2
    store.close()


@pytest.mark.parametrize("damage", [("\n}\n,\"promises\":{\n", "\n}X\n,\"promises\":{\n"),
                                    ("\n}\n,\"promises\":{\n", "\n,\"promises\":{\n")])
def test_a_lazy_table_whose_closing_line_is_damaged_or_lost_is_refused_on_opening(db_path, damage):
    """The lines of the threads are not split at load, but they cannot swallow the promises' table."""
    _a_store_with_every_lazy_table(db_path)
    text = db_path.read_text()
    assert text.count(damage[0]) == 1
    db_path.write_text(text.replace(*damage))
    with pytest.raises(StorageError, match="damaged") as caught:
        TinyDBStore(db_path)
    assert "kept rebuild" in str(caught.value)
