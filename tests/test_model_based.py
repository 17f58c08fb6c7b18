"""Random sequences of kept commands with random ``kill -9``, against a reference model (issue 18).

Each sequence is drawn from its own seeded `random.Random`: a small Maildir
(tests/modeltest_mail.py: contacts, promises made and kept, questions
waiting on the user and on others) grows between steps, and the steps are
drawn from ``kept scan``, ``kept run --once`` (the digest goes out through a
``command`` route into a folder the test reads, and later lands in the
inbox), ``kept rebuild --yes``, ``kept forget --yes PERSON``, ``kept
promises done|snooze|dismiss ID``, ``kept threads done|snooze|mute`` and a
reply to the last digest ("done 2", "snooze 1 2026-03-09", "mute 3")
delivered into the sent folder. About a third of the commands are killed
with SIGKILL after a random delay scaled to how long that command took
unkilled (the whole process group: the digest's delivery command too).

kept runs in forked children of the test process (`run_forked`): the
language models are loaded once and shared copy-on-write, so a command
costs tens of milliseconds instead of the two seconds of a fresh process.

The reference model is plain Python (`Model`), with one oracle for what
kept's language model decides:

* messages: every message delivered, minus those of a person `kept
  forget` erased (until a ``kept rebuild`` reads them again);
* threads and promises as found in that mail: a clean, never-killed ``kept
  scan`` of exactly those messages into a fresh database (`clean_scan`);
  the test also checks the generator's own account of them (a promise kept
  exactly when its "Here is ..., as promised." was delivered);
* what the user said, over it: every correction that completed, by command
  or by reply, replayed on the model's own clock of deliveries and
  corrections (a done before the mail that keeps a promise stays done, a
  done conversation reopens on later mail, a snooze is for open promises);
  a killed correction must have been applied entirely or not at all, and
  the test reads which from the database (`Sequence.observe_correction`);
* muted contacts, dismissed sentences, replies carried out once each, and
  at most one digest per day (unless a forget dropped a planned one).

The user acts only on what the model knows the database holds: items whose
mail was delivered before the last command that read all mail and finished
(`Model.settled`), whose mail that could change them was read too, and
which no reply waiting to be carried out names. After the sequence an
unkilled ``kept scan`` recovers, and the database must equal the
reference. After every kill the database must open, and no command may
print a traceback. A failure names the seed and the steps;
``KEPT_MODEL_SEED=N`` runs that one sequence again (the same steps; where
a kill lands depends on the machine), ``KEPT_MODEL_SEQUENCES=N`` runs a
longer soak; ``pytest -s`` prints what the kills hit.

What the user does not do here, to keep the model exact: correct a person's
items after `kept forget` erased them, forget someone with a dismissed
promise (its sentence stays dismissed, so a rebuild would not raise it
again), act on nudges (introductions, leads, keep-in-touch).

Writing it turned up two bugs, fixed with their own regression tests: a
snoozed promise that later mail kept kept its snooze day, which a rebuild
dropped (a run of this test; tests/test_scan_kept.py), and a ``kept
rebuild`` killed while it set the database aside lost every correction
(from working out what such a kill must leave; with many rebuilds in the
mix this test catches it too; tests/test_rebuild.py).
"""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kept.commands import main
from kept.daemon.feedback import sentence_fingerprint
from kept.storage.tinydb_store import TinyDBStore
from tests.helpers import ME
from tests.modeltest_mail import MAX_CONVERSATIONS, Conversation, Digest, Mail, Mailbox, message_bytes, read_digest, received_digests

pytestmark = pytest.mark.slow

SEQUENCES = int(os.environ.get("KEPT_MODEL_SEQUENCES", "200"))
ONE_SEED = os.environ.get("KEPT_MODEL_SEED")
#: The sequences are split in blocks so that ``pytest -n`` can spread them.
BLOCKS = 4
START = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)  # a Monday, before the digest's 07:30
KILL_CHANCE = 0.35
#: Small batches and an early move to the message file: a scan of a few messages commits several times.
SCAN_BATCH = "3"
HOT_MESSAGES = 8


# -- running kept in a forked child ------------------------------------------------------


def run_forked(argv: list[str], output: Path, kill_after: float | None) -> tuple[int | None, float]:
    """Run ``kept ARGV`` in a forked child; SIGKILL its process group after `kill_after` seconds.

    :returns: the exit code (None when the kill came before it ended) and the seconds it ran.
    """
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: kept in-process, then out without the parent's clean-up
        code = 70
        try:
            os.setpgid(0, 0)
            descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(descriptor, 1)
            os.dup2(descriptor, 2)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            # pytest's capture may have replaced the streams: write to the file.
            sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
            sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
            sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
            code = main(argv)
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 2
        except BaseException:  # noqa: BLE001 - reported in the output, which the test reads
            traceback.print_exc()
            code = 70
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    try:
        os.setpgid(pid, pid)  # also here: the kill may come before the child has run at all
    except OSError:
        pass
    status = 0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if kill_after is not None and time.monotonic() - started >= kill_after:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.001)
    seconds = time.monotonic() - started
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return None, seconds
    return os.waitstatus_to_exitcode(status), seconds


def write_config(path: Path, maildir: Path, database: Path, outbox: Path | None) -> Path:
    """A config over one Maildir account; the digest goes into `outbox` (a Maildir-like folder), or nowhere."""
    if outbox is None:
        delivery = 'delivery = "none"'
    else:
        # Written under tmp/ and moved into new/ once whole, as a Maildir delivery: a kill leaves no half digest.
        script = 'f=$(mktemp "$0/tmp/digest.XXXXXXXX") && cat > "$f" && mv "$f" "$0/new/"'
        delivery = f"delivery = \"command\"\ncommand = ['sh', '-c', '{script}', '{outbox}']"
    path.write_text(
        f'[kept]\naddresses = ["{ME}"]\ntimezone = "UTC"\ndatabase = "{database}"\n\n'
        f'[digest]\n{delivery}\n\n'
        f'[accounts.home]\ntype = "maildir"\npath = "{maildir}"\ninbox = ""\nsent = ".Sent"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def snapshot(database: Path, scratch: Path) -> dict[str, Any] | None:
    """Everything the database holds (`TinyDBStore.export`), or None when there is no database.

    Read from a copy: opening the store cleans up after a killed writer,
    and that is for the next kept command to do, not for the test.
    """
    if not database.exists():
        return None
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(mode=0o700, parents=True)
    for path in database.parent.iterdir():
        if path.name.startswith(("kept.json", "kept.messages.json")) and ".broken-" not in path.name \
                and not path.name.endswith(".lock"):
            shutil.copy2(path, scratch / path.name)
    store = TinyDBStore(scratch / database.name)
    try:
        return store.export()
    finally:
        store.close()


# -- the reference model ------------------------------------------------------------------


@dataclass(frozen=True)
class Correction:
    """What the user said about a promise or a conversation, at a moment of the model's clock.

    :ivar at: the command's ``--now`` (None for a reply: the pass that carried it out is not known).
    """

    tick: int
    action: str  # done, snooze, dismiss
    until: date | None = None
    at: datetime | None = None


@dataclass
class Reply:
    """A reply to a digest, delivered but not yet certainly carried out."""

    mail: Mail
    digest: Digest
    targets: list[tuple[Conversation, str, str, date | None]]  # conversation, "promise"/"thread", action, until


@dataclass
class Model:
    """What the database must hold, in plain Python (see the module docstring).

    :ivar settled: the first this many delivered messages are stored for
        certain (a command reading all mail finished after they came).
    :ivar erased: Message-IDs `kept forget` erased (a rebuild reads them again).
    """

    settled: int = 0
    rebuilding: bool = False
    erased: set[str] = field(default_factory=set)
    forgotten: set[str] = field(default_factory=set)
    muted: set[str] = field(default_factory=set)
    dismissed: set[str] = field(default_factory=set)
    promise_said: dict[int, list[Correction]] = field(default_factory=dict)
    thread_said: dict[int, list[Correction]] = field(default_factory=dict)
    erased_at: dict[int, int] = field(default_factory=dict)  # conversation -> tick of the forget
    in_flight: list[Reply] = field(default_factory=list)
    forgets: list[datetime] = field(default_factory=list)

    def locked(self, conversation: Conversation) -> bool:
        """True while a reply waiting to be carried out names it (or its promise)."""
        return any(target[0] is conversation for reply in self.in_flight for target in reply.targets)

    def promise_now(self, conversation: Conversation, tick: int) -> tuple[str, date | None]:
        """The promise's status and snooze day at `tick`, as the model has it."""
        return promise_state(conversation, self.said_since_erased(self.promise_said, conversation), tick)[:2]

    def said_since_erased(self, said: dict[int, list[Correction]], conversation: Conversation) -> list[Correction]:
        since = self.erased_at.get(conversation.number, -1)
        return [c for c in said.get(conversation.number, []) if c.tick > since]


def promise_state(conversation: Conversation, said: list[Correction], tick: int | None = None
                  ) -> tuple[str, date | None, datetime | None]:
    """Status, snooze day and the user's closing time of a promise: its keeping mail and the user's word, in order.

    The mail that keeps it counts from its delivery: the user acts on a
    promise only once that mail (if delivered) was read.
    """
    keep = conversation.mail("keep")
    events: list[tuple[int, Correction | None]] = [(c.tick, c) for c in said]
    if keep is not None:
        events.append((keep.tick, None))
    status, until, closed = "open", None, None
    for moment, correction in sorted(events, key=lambda event: event[0]):
        if tick is not None and moment > tick:
            break
        is_open = status in ("open", "snoozed")
        if correction is None:
            if is_open:
                status, until = "kept", None
        elif correction.action == "done" and is_open:
            status, until, closed = "done", None, correction.at
        elif correction.action == "snooze" and is_open:
            status, until = "snoozed", correction.until
        elif correction.action == "dismiss":
            status, until, closed = "dismissed", None, correction.at
    return status, until, closed


def thread_state(conversation: Conversation, said: list[Correction], delivered: list[Mail]
                 ) -> tuple[str, date | None, datetime | None, bool]:
    """Status, snooze day and done time of a conversation; the last is False when the done time is not known.

    New mail after a done reopens it (every later delivery is dated after
    the done, also one carried out by a reply); a snooze stays.
    """
    events: list[tuple[int, Correction | Mail]] = [(c.tick, c) for c in said] + [(m.tick, m) for m in delivered]
    status, until, done_at, known = "open", None, None, True
    for _, event in sorted(events, key=lambda event: event[0]):
        if isinstance(event, Mail):
            if status == "done" and (done_at is None or event.date > done_at):
                status, done_at, known = "open", None, True
        elif event.action == "done":
            status, until, done_at, known = "done", None, event.at, event.at is not None
        elif event.action == "snooze":
            status, until = "snoozed", event.until
    return status, until, done_at, known


# -- one sequence ----------------------------------------------------------------------------


@dataclass
class Stats:
    """What the sequences did, for the report and docs/reliability.md."""

    sequences: int = 0
    steps: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)  # kill attempts per command
    landed: Counter[str] = field(default_factory=Counter)  # the command had not ended
    mid_write: Counter[str] = field(default_factory=Counter)  # ... and had changed the database
    events: Counter[str] = field(default_factory=Counter)  # what the model saw happen
    messages: int = 0
    seconds: float = 0.0

    def add(self, other: Stats) -> None:
        self.sequences += other.sequences
        for name in ("steps", "kills", "landed", "mid_write", "events"):
            getattr(self, name).update(getattr(other, name))
        self.messages += other.messages
        self.seconds += other.seconds

    def report(self) -> str:
        kills, landed, mid = (sum(c.values()) for c in (self.kills, self.landed, self.mid_write))
        per = ", ".join(f"{name} {self.landed[name]}/{self.kills[name]} ({self.mid_write[name]})"
                        for name in sorted(self.kills))
        events = ", ".join(f"{name} {count}" for name, count in sorted(self.events.items()))
        return (f"{self.sequences} sequences, {sum(self.steps.values())} commands, {self.messages} messages, "
                f"{kills} kills: {landed} landed before the command ended, {mid} of them after it had written to "
                f"the database (per command: landed/kills (after a write): {per}); {events}; {self.seconds:.0f} s")


class SequenceFailed(AssertionError):
    pass


class Sequence:
    """One random sequence of steps against one database, with its model (see the module docstring)."""

    def __init__(self, seed: int, root: Path, durations: dict[str, float]) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.root = root
        self.durations = durations
        self.mailbox = Mailbox(root / "Maildir", self.rng, f"s{seed}")
        self.outbox = root / "outbox"
        for part in ("tmp", "new"):
            (self.outbox / part).mkdir(parents=True)
        self.database = root / "state" / "kept.json"
        self.config = write_config(root / "config.toml", root / "Maildir", self.database, self.outbox)
        self.now = START
        self.tick = 0
        self.model = Model()
        self.steps: list[str] = []
        self.stats = Stats(sequences=1)
        self.commands = 0
        self.digests_in_inbox: set[str] = set()  # file names of digests already delivered to the inbox

    # -- the run ------------------------------------------------------------------------

    def run(self, length: int) -> None:
        started = time.monotonic()
        mails = self.deliver(self.rng.randint(8, 14), initial=True)
        self.steps.append(f"{self.now:%a %H:%M} initial mailbox: " + ", ".join(
            f"{m.role} ({m.conversation.number if m.conversation else '-'})" for m in mails))
        for _ in range(length):
            self.now += timedelta(hours=self.rng.randint(1, 8), minutes=self.rng.randint(0, 59))
            self.step()
        self.now += timedelta(minutes=10)
        self.steps.append("recovery scan")
        code = self.kept("scan", "-q", kill=False)
        self.expect(code == 0, f"the recovery scan exited {code}")
        self.settle(len(self.mailbox.mails), completed=True)
        self.compare()
        self.stats.messages = len(self.mailbox.mails)
        self.stats.seconds = time.monotonic() - started

    def step(self) -> None:
        weights = {"deliver": 24, "scan": 14, "run": 16, "rebuild": 8, "forget": 4, "promise": 14,
                   "thread": 10, "reply": 14}
        kind = self.rng.choices(list(weights), list(weights.values()))[0]
        done = getattr(self, f"step_{kind}")()
        if done is False:  # nothing to act on: read the mail instead
            self.step_scan()

    def fail(self, message: str) -> None:
        steps = "\n".join(f"  {n}. {step}" for n, step in enumerate(self.steps, 1))
        said = "\n".join(
            f"  conversation {c.number} ({c.kind}, {c.contact.address}): "
            + ", ".join(f"{m.role}@{m.tick}" for m in c.mails)
            + "".join(f"; promise {s.action}@{s.tick}" for s in self.model.promise_said.get(c.number, []))
            + "".join(f"; thread {s.action}@{s.tick}" for s in self.model.thread_said.get(c.number, []))
            for c in self.mailbox.conversations)
        raise SequenceFailed(f"seed {self.seed}: {message}\nsteps (KEPT_MODEL_SEED={self.seed} runs them again; "
                             f"where a kill lands varies):\n{steps}\nthe model:\n{said}")

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            self.fail(message)

    # -- running a command --------------------------------------------------------------

    def kept(self, *args: str, kill: bool | None = None, work: int = 0) -> int | None:
        """Run a kept command at the sequence's clock, killed at random (or as `kill` says); its exit code or None.

        :param work: how many messages it may have to read, for the kill's delay.
        """
        name = args[0] if args[0] not in ("promises", "threads") else f"{args[0]} {args[1]}"
        size = f"{name}/{0 if work == 0 else 1 if work <= 3 else 2 if work <= 8 else 3}"
        kill = self.rng.random() < KILL_CHANCE if kill is None else kill
        delay = None
        if kill:
            # Scaled to how long the same command with as much mail to read took unkilled: most kills land
            # inside the work. Half of a rebuild's land early, where it moves the database aside and
            # carries the corrections over.
            low, high = (0.05, 0.3) if name == "rebuild" and self.rng.random() < 0.5 else (0.0, 1.1)
            delay = self.rng.uniform(low, high) * self.durations.get(size, self.durations.get(name, 0.1))
            self.stats.kills[name] += 1
        self.commands += 1
        output = self.root / "output" / f"{self.commands:03d}.txt"
        output.parent.mkdir(exist_ok=True)
        before = self._signature()
        argv = ["--config", str(self.config), "--now", self.now.isoformat(), *args]
        code, seconds = run_forked(argv, output, delay)
        text = output.read_text(encoding="utf-8", errors="replace") if output.exists() else ""  # killed at once
        self.steps[-1] += f" -> {'killed after %.3f s' % seconds if code is None else f'exit {code}'}"
        self.expect("Traceback" not in text, f"`kept {' '.join(args)}` printed a traceback:\n{text}")
        if code is None:
            self.stats.landed[name] += 1
            if self._signature() != before:
                self.stats.mid_write[name] += 1
        else:
            # What an unkilled run takes, for the next kill's delay.
            for key in (name, size):
                previous = self.durations.get(key)
                self.durations[key] = seconds if previous is None else 0.8 * previous + 0.2 * seconds
        self.stats.steps[name] += 1
        return code

    def _signature(self) -> list[tuple[str, int, int]]:
        folder = self.database.parent
        if not folder.exists():
            return []
        return sorted((p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()
                      if p.name.startswith(("kept.json", "kept.messages.json")) and not p.name.endswith(".lock"))

    def read(self) -> dict[str, Any] | None:
        """The database now (it must open after any kill)."""
        try:
            return snapshot(self.database, self.root / "snapshot")
        except Exception as error:  # noqa: BLE001 - reported with the seed
            self.fail(f"the database does not open: {type(error).__name__}: {error}")
            raise

    # -- mail ---------------------------------------------------------------------------

    def deliver(self, count: int, initial: bool = False) -> list[Mail]:
        """Deliver `count` new messages (conversations going on or starting), and the digests received meanwhile."""
        mails = self.deliver_digests()
        free = [c for c in self.mailbox.conversations if c.next_step() is not None and not self.model.locked(c)]
        for n in range(count):
            minutes = (count - n) * (180 if initial else 3) + self.rng.randint(0, 2)
            conversation = self.rng.choice(free) if free and self.rng.random() < 0.6 else None
            if conversation is None and len(self.mailbox.conversations) >= MAX_CONVERSATIONS:
                break
            if conversation is None:
                conversation = self.mailbox.start_conversation()
                free.append(conversation)
            self.tick += 1
            mails.append(self.mailbox.write(conversation, self.now - timedelta(minutes=minutes), self.tick))
            # One message per conversation at a time (an initial mailbox may hold a whole conversation).
            if not initial or conversation.next_step() is None:
                free.remove(conversation)
        return mails

    def deliver_digests(self) -> list[Mail]:
        """The digests the route delivered since last time arrive in the inbox (each copy once)."""
        mails = []
        for path in sorted((self.outbox / "new").iterdir()):
            if path.name in self.digests_in_inbox:
                continue
            self.digests_in_inbox.add(path.name)
            digest = read_digest(path.read_bytes())
            self.tick += 1
            mails.append(self.mailbox.deliver(digest.data, "", digest.date, self.tick, role="digest"))
        return mails

    def step_deliver(self) -> bool:
        mails = self.deliver(self.rng.randint(1, 4))
        self.steps.append(f"{self.now:%a %H:%M} deliver " + ", ".join(
            f"{m.role} ({m.conversation.number if m.conversation else '-'})" for m in mails))
        return True

    # -- reading mail: scan, run --once, rebuild ----------------------------------------

    def settle(self, delivered: int, completed: bool) -> None:
        """A command that reads all mail finished: what was delivered before it is stored, replies carried out."""
        if not completed:
            return
        if self.model.rebuilding:
            self.model.erased.clear()
            self.model.rebuilding = False
        self.model.settled = max(self.model.settled, delivered)
        waiting = []
        for reply in self.model.in_flight:
            if reply.mail.tick > self.tick_at(delivered):
                waiting.append(reply)
                continue
            self.tick += 1
            self.carry_out(reply)
        self.model.in_flight = waiting

    def tick_at(self, delivered: int) -> int:
        return self.mailbox.mails[delivered - 1].tick if delivered else 0

    def carry_out(self, reply: Reply) -> None:
        model = self.model
        for conversation, kind, action, until in reply.targets:
            if kind == "promise":
                model.promise_said.setdefault(conversation.number, []).append(Correction(self.tick, action, until))
                if action == "dismiss":
                    model.dismissed.add(conversation.sentence or "")
            elif action == "mute":
                if conversation.mail("ask") or any(m.folder == "" for m in conversation.mails):
                    model.muted.add(conversation.contact.address)
            else:
                model.thread_said.setdefault(conversation.number, []).append(Correction(self.tick, action, until))

    def step_scan(self) -> bool:
        self.steps.append(f"{self.now:%a %H:%M} scan")
        delivered = len(self.mailbox.mails)
        code = self.kept("scan", "-q", work=delivered - self.model.settled)
        self.expect(code in (0, None), f"kept scan exited {code}")
        self.settle(delivered, code == 0)
        return True

    def step_run(self) -> bool:
        self.steps.append(f"{self.now:%a %H:%M} run --once")
        delivered = len(self.mailbox.mails)
        code = self.kept("run", "--once", work=delivered - self.model.settled)
        self.expect(code in (0, None), f"kept run --once exited {code}")
        self.settle(delivered, code == 0)
        return True

    def step_rebuild(self) -> bool:
        self.steps.append(f"{self.now:%a %H:%M} rebuild")
        delivered = len(self.mailbox.mails)
        aside = len(list(self.database.parent.glob("kept.json.broken-*")))
        code = self.kept("rebuild", "--yes", work=delivered)
        self.expect(code in (0, None), f"kept rebuild exited {code}")
        if code is None and self.database.with_name("kept.json.rebuilding").exists():
            self.stats.events["rebuild killed while setting the database aside"] += 1
        if len(list(self.database.parent.glob("kept.json.broken-*"))) > aside:
            # The old database was set aside: nothing is certain until a pass reads all mail again.
            self.model.rebuilding = True
            self.model.settled = 0
        self.settle(delivered, code == 0)
        return True

    # -- forget --------------------------------------------------------------------------

    def step_forget(self) -> bool:
        model = self.model
        candidates = []
        for contact in self.mailbox.contacts:
            theirs = [m for m in self.mailbox.mails if m.person == contact]
            conversations = [c for c in self.mailbox.conversations if c.contact == contact]
            if (contact.address in model.forgotten or not theirs
                    or any(self.mailbox.mails.index(m) >= model.settled for m in theirs)
                    or any(model.locked(c) for c in conversations)
                    or any(said.action == "dismiss" for c in conversations for said in model.promise_said.get(c.number, []))):
                continue
            candidates.append(contact)
        if not candidates:
            return False
        contact = self.rng.choice(candidates)
        self.steps.append(f"{self.now:%a %H:%M} forget {contact.address}")
        before = self.read()
        code = self.kept("forget", "--yes", contact.address)
        theirs = {m.message_id for m in self.mailbox.mails if m.person == contact}
        if code is None:
            after = self.read()
            stored = {m["message_id"] for m in (after or {}).get("messages", [])} & theirs
            if stored and stored != {m["message_id"] for m in (before or {}).get("messages", [])} & theirs:
                self.fail(f"a killed forget left {len(stored)} of {contact.address}'s messages: half done")
            applied = not stored
        else:
            self.expect(code == 0, f"kept forget exited {code}")
            applied = True
        if applied:
            self.tick += 1
            model.erased |= theirs
            model.forgotten.add(contact.address)
            model.muted.discard(contact.address)
            model.forgets.append(self.now)
            self.stats.events["forget"] += 1
            for conversation in self.mailbox.conversations:
                if conversation.contact == contact:
                    model.erased_at[conversation.number] = self.tick
        return True

    # -- corrections ----------------------------------------------------------------------

    def settled_mail(self, mail: Mail) -> bool:
        return self.mailbox.mails.index(mail) < self.model.settled

    def can_correct(self, conversation: Conversation) -> bool:
        """True if the model knows what the database holds of it: all its mail read, no reply about it waiting."""
        return (conversation.contact.address not in self.model.forgotten and bool(conversation.mails)
                and all(self.settled_mail(m) for m in conversation.mails) and not self.model.locked(conversation))

    def promise_targets(self) -> list[Conversation]:
        return [c for c in self.mailbox.conversations
                if c.kind == "promise" and c.mail("promise") is not None and self.can_correct(c)]

    def step_promise(self) -> bool:
        targets = self.promise_targets()
        if not targets:
            return False
        conversation = self.rng.choice(targets)
        before = self.read()
        record = find_promise(before, conversation)
        self.steps.append(f"{self.now:%a %H:%M} promises ... ({conversation.number})")
        if record is None:
            self.fail(f"the promise of conversation {conversation.number} is not in the database, "
                      f"though its mail was read: {conversation.sentence!r}")
        assert record is not None and before is not None
        action = self.rng.choice(["done", "snooze", "dismiss"])
        status, _ = self.model.promise_now(conversation, self.tick)
        until = (self.now + timedelta(days=self.rng.randint(2, 9))).date()
        words = [until.isoformat()] if action == "snooze" else []
        self.steps[-1] = f"{self.now:%a %H:%M} promises {action} {record['id']} {' '.join(words)} ({conversation.number}, {status})"
        code = self.kept("promises", action, record["id"], *words)
        expected = 1 if action == "snooze" and status not in ("open", "snoozed") else 0
        if code is None:
            applied = self.observe_correction(before, "promises", record["id"], action, until)
            self.stats.events[f"killed correction {'applied' if applied else 'not applied'}"] += 1
        else:
            self.expect(code == expected, f"`kept promises {action}` exited {code}, not {expected} (the promise was {status})")
            applied = code == 0
            self.stats.events["correction by command" if applied else "correction refused"] += 1
        if applied:
            self.tick += 1
            self.model.promise_said.setdefault(conversation.number, []).append(
                Correction(self.tick, action, until if action == "snooze" else None, self.now))
            if action == "dismiss":
                self.model.dismissed.add(conversation.sentence or "")
        return True

    def step_thread(self) -> bool:
        targets = [c for c in self.mailbox.conversations if self.can_correct(c)]
        if not targets:
            return False
        conversation = self.rng.choice(targets)
        before = self.read()
        key = find_thread(before, conversation)
        self.steps.append(f"{self.now:%a %H:%M} threads ... ({conversation.number})")
        if key is None:
            self.fail(f"conversation {conversation.number} is not in the database, though its mail was read")
        assert key is not None and before is not None
        action = self.rng.choice(["done", "snooze", "mute"])
        until = (self.now + timedelta(days=self.rng.randint(2, 9))).date()
        words = {"done": [key], "snooze": [key, until.isoformat()], "mute": [conversation.contact.address]}[action]
        self.steps[-1] = f"{self.now:%a %H:%M} threads {action} {' '.join(words)} ({conversation.number})"
        code = self.kept("threads", action, *words)
        if code is None:
            applied = self.observe_correction(before, "threads", words[0], action, until)
            self.stats.events[f"killed correction {'applied' if applied else 'not applied'}"] += 1
        else:
            self.expect(code == 0, f"`kept threads {action}` exited {code}")
            applied = True
            self.stats.events["correction by command"] += 1
        if applied:
            self.tick += 1
            if action == "mute":
                self.model.muted.add(conversation.contact.address)
            else:
                self.model.thread_said.setdefault(conversation.number, []).append(
                    Correction(self.tick, action, until if action == "snooze" else None, self.now))
        return True

    def observe_correction(self, before: dict[str, Any], family: str, ref: str, action: str, until: date) -> bool:
        """After a killed correction: was it applied? It must be entirely or not at all, and nothing else may change."""
        after = self.read()
        if after is None:
            self.fail("the database is gone after a killed correction")
        assert after is not None
        table, key = ("promises", "id") if family == "promises" else ("threads", "key")
        old = {r[key]: r for r in before[table]}
        new = {r[key]: r for r in after[table]}
        meta_key = {"dismiss": "dismissed_sentences", "mute": "muted_contacts"}.get(action)
        unchanged = _without(before, table, ref, meta_key) == _without(after, table, ref, meta_key)
        if not unchanged:
            self.fail(f"a killed `kept {family} {action}` changed more than its item")
        if action == "mute":
            muted_before, muted_after = (set(d["meta"].get("muted_contacts") or []) for d in (before, after))
            return muted_after - muted_before == {ref}
        record_before, record_after = old[ref], new.get(ref)
        if record_after is None:
            self.fail(f"a killed `kept {family} {action}` lost {ref}")
        assert record_after is not None
        same_meta = (before["meta"].get(meta_key) == after["meta"].get(meta_key)) if meta_key else True
        if record_after == record_before:
            if not same_meta:
                self.fail(f"a killed `kept {family} {action}` changed {meta_key} but not {ref}: half done")
            return False
        status = record_after["status"]
        expected = {"done": "done", "snooze": "snoozed", "dismiss": "dismissed"}[action]
        if status != expected or (action == "snooze" and record_after["snoozed_until"] != until.isoformat()):
            self.fail(f"a killed `kept {family} {action}` left {ref} {status}: {record_after}")
        if action == "dismiss" and sentence_fingerprint(record_after["sentence"]) not in (
                after["meta"].get("dismissed_sentences") or []):
            self.fail(f"a killed dismiss marked {ref} dismissed without remembering its sentence: half done")
        return True

    # -- replies to the digest -----------------------------------------------------------

    def step_reply(self) -> bool:
        digests = received_digests(self.outbox)
        if not digests:
            return False
        digest = digests[-1] if self.rng.random() < 0.8 else self.rng.choice(digests)
        lines, targets = [], []
        used: set[int] = set()
        for item in self.rng.sample(digest.items, len(digest.items)):
            conversation = self.item_conversation(item.kind, item.text)
            if conversation is None or conversation.number in used or not self.can_correct(conversation):
                continue
            if item.kind == "promise" and conversation.mail("promise") is None:
                continue
            used.add(conversation.number)
            actions = ["done", "snooze", "dismiss"] if item.kind == "promise" else ["done", "snooze", "mute"]
            action = self.rng.choice(actions)
            until = (self.now + timedelta(days=self.rng.randint(2, 9))).date() if action == "snooze" else None
            lines.append(f"{action} {item.number}" + (f" {until.isoformat()}" if until else ""))
            targets.append((conversation, item.kind, action, until))
            if len(targets) >= self.rng.randint(1, 3):
                break
        if not targets:
            return False
        self.deliver_digests()
        if self.rng.random() < 0.2:
            lines.append("Thanks!")  # not an instruction: a note says so, nothing changes
        subject = "Re: kept digest"
        data = message_bytes(self.mailbox.reply_id(), ME, ME, self.now - timedelta(minutes=2), subject,
                             "\n".join(lines) + "\n", {"In-Reply-To": digest.message_id, "References": digest.message_id})
        self.tick += 1
        mail = self.mailbox.deliver(data, ".Sent", self.now - timedelta(minutes=2), self.tick, role="digest-reply")
        if self.rng.random() < 0.2:  # a copy to themselves: the same reply twice, obeyed once
            self.mailbox.deliver(data, "", self.now - timedelta(minutes=2), self.tick, role="digest-reply")
        self.model.in_flight.append(Reply(mail, digest, targets))
        self.stats.events["reply to a digest"] += 1
        self.stats.events["correction by reply"] += len(targets)
        self.steps.append(f"{self.now:%a %H:%M} reply to {digest.message_id}: " + "; ".join(lines)
                          + " (" + ", ".join(str(t[0].number) for t in targets) + ")")
        return True

    def item_conversation(self, kind: str, text: str) -> Conversation | None:
        for conversation in self.mailbox.conversations:
            if kind == "promise" and conversation.sentence == text:
                return conversation
            if kind == "thread" and text.removeprefix("Re: ") == conversation.subject:
                return conversation
        return None

    # -- the end: the database against the reference ------------------------------------

    def expected_mail(self) -> list[Mail]:
        return [m for m in self.mailbox.mails if m.message_id not in self.model.erased]

    def compare(self) -> None:
        actual = self.read()
        self.expect(actual is not None, "there is no database after the recovery scan")
        assert actual is not None
        mails = self.expected_mail()
        clean = clean_scan(self.root / "clean", mails, self.now)
        by_id = {m.message_id: m for m in self.mailbox.mails}

        # Messages: every one delivered and not forgotten, once, as a clean scan stores it.
        ids = {m.message_id for m in mails}
        stored = [m["message_id"] for m in actual["messages"]]
        self.expect(len(stored) == len(set(stored)), "a message is stored twice")
        missing, extra = ids - set(stored), set(stored) - ids
        self.expect(not missing and not extra, f"messages: missing {sorted(missing)}, unexpected {sorted(extra)}")
        self.expect(records(actual, "messages", "message_id", "thread_key") ==
                    records(clean, "messages", "message_id", "thread_key"),
                    "message records differ from a clean scan's: " + differ(actual, clean, "messages", "message_id"))

        # Threads: the same conversations; their status from what the user said.
        real_threads, clean_threads = threads_by_messages(actual), threads_by_messages(clean)
        self.expect(set(real_threads) == set(clean_threads), "threads are grouped differently from a clean scan: "
                    f"{sorted(map(sorted, set(real_threads) ^ set(clean_threads)))}")
        for members, thread in real_threads.items():
            other = clean_threads[members]
            conversations = {by_id[m].conversation.number if by_id[m].conversation else None for m in members}
            self.expect(len(conversations) == 1, f"one thread holds messages of conversations {conversations}")
            for name in ("account", "subject", "messages"):
                self.expect(thread[name] == other[name], f"thread {sorted(members)}: {name} differs from a clean scan")
            conversation = by_id[next(iter(members))].conversation
            status, until, done_at, known = ("open", None, None, True)
            if conversation is not None:
                delivered = [m for m in conversation.mails if m.message_id in ids]
                status, until, done_at, known = thread_state(
                    conversation, self.model.said_since_erased(self.model.thread_said, conversation), delivered)
            got = (thread["status"], thread["snoozed_until"])
            want = (status, until.isoformat() if until else None)
            self.expect(got == want, f"thread of conversation {conversation and conversation.number}: "
                        f"{got}, expected {want}")
            if status == "done" and known:
                self.expect(thread["done_at"] == (done_at.isoformat() if done_at else None),
                            f"thread of conversation {conversation and conversation.number}: done at "
                            f"{thread['done_at']}, expected {done_at}")

        # Promises: those a clean scan finds, with the user's word over them.
        real_promises = {(p["message_id"], p["sentence"]): p for p in actual["promises"]}
        clean_promises = {(p["message_id"], p["sentence"]): p for p in clean["promises"]}
        self.expect(set(real_promises) == set(clean_promises),
                    f"promises differ from a clean scan's: {sorted(set(real_promises) ^ set(clean_promises))}")
        for key, promise in real_promises.items():
            natural = clean_promises[key]
            conversation = by_id[key[0]].conversation
            self.expect(conversation is not None and conversation.sentence == key[1] and by_id[key[0]].role == "promise",
                        f"a promise the generator did not write: {key}")
            assert conversation is not None
            keep = conversation.mail("keep")
            self.expect(natural["status"] == ("kept" if keep is not None and keep.message_id in ids else "open"),
                        f"the generator's assumption broke: a clean scan has {key[1]!r} {natural['status']}")
            fixed = ("thread_key", "status", "closed_at", "snoozed_until", "evidence")
            self.expect({k: v for k, v in promise.items() if k not in fixed} == {k: v for k, v in natural.items() if k not in fixed},
                        f"promise {key[1]!r} differs from a clean scan's")
            status, until, closed = promise_state(conversation, self.model.said_since_erased(self.model.promise_said, conversation))
            got = (promise["status"], promise["snoozed_until"])
            want = (status, until.isoformat() if until else None)
            self.expect(got == want, f"promise {promise['id']} of conversation {conversation.number}: {got}, expected {want}")
            if status == "kept":
                self.expect((promise["closed_at"], promise["evidence"]) == (natural["closed_at"], natural["evidence"]),
                            f"promise {promise['id']}: kept differently from a clean scan")
            elif status in ("done", "dismissed") and closed is not None:
                self.expect(promise["closed_at"] == closed.isoformat(), f"promise {promise['id']}: closed at "
                            f"{promise['closed_at']}, expected {closed}")

        # What the user said that is not a record: muted contacts, dismissed sentences, replies carried out once.
        meta = actual["meta"]
        self.expect(set(meta.get("muted_contacts") or []) == self.model.muted,
                    f"muted {meta.get('muted_contacts')}, expected {sorted(self.model.muted)}")
        self.expect(set(meta.get("dismissed_sentences") or []) == {sentence_fingerprint(s) for s in self.model.dismissed},
                    "the dismissed sentences differ")
        replies = {m.message_id for m in self.mailbox.mails if m.role == "digest-reply"}
        applied = meta.get("applied_replies") or []
        self.expect(replies <= set(applied), f"replies never carried out: {sorted(replies - set(applied))}")
        self.expect(not meta.get("pending_replies"), f"replies still waiting: {meta.get('pending_replies')}")
        self.expect(not meta.get("rebuild_carried"), f"corrections a rebuild carried still waiting: {meta.get('rebuild_carried')}")

        # At most one digest a day, resent under its own Message-ID (or a second one after a forget dropped the first).
        days: dict[date, set[str]] = {}
        for digest in received_digests(self.outbox):
            days.setdefault(digest.date.date(), set()).add(digest.message_id)
        self.stats.events["digest"] += sum(len(sent) for sent in days.values())
        for day, sent in days.items():
            allowed = 1 + sum(1 for moment in self.model.forgets if moment.date() == day)
            self.expect(len(sent) <= allowed, f"{len(sent)} different digests on {day}: {sorted(sent)}")
            known = set((meta.get("sent_digests") or {}))
            self.expect(sent <= known, f"a digest sent is not in sent_digests: {sorted(sent - known)}")


def find_promise(exported: dict[str, Any] | None, conversation: Conversation) -> dict[str, Any] | None:
    mail = conversation.mail("promise")
    for promise in (exported or {}).get("promises", []):
        if mail is not None and promise["message_id"] == mail.message_id and promise["sentence"] == conversation.sentence:
            return promise  # type: ignore[no-any-return]
    return None


def find_thread(exported: dict[str, Any] | None, conversation: Conversation) -> str | None:
    first = conversation.mails[0].message_id
    for thread in (exported or {}).get("threads", []):
        if any(m["message_id"] == first for m in thread["messages"]):
            return str(thread["key"])
    return None


def _without(exported: dict[str, Any], table: str, ref: str, meta_key: str | None) -> dict[str, Any]:
    """The export without one record of `table` and the meta a correction writes (to see that nothing else changed)."""
    key = "id" if table == "promises" else "key"
    volatile = {"promise_revision", meta_key}
    return {
        "messages": sorted(exported["messages"], key=lambda m: m["message_id"]),
        "threads": sorted((t for t in exported["threads"] if not (table == "threads" and t[key] == ref)), key=lambda t: t["key"]),
        "promises": sorted((p for p in exported["promises"] if not (table == "promises" and p[key] == ref)), key=lambda p: p["id"]),
        "meta": {k: v for k, v in exported["meta"].items() if k not in volatile},
    }


def records(exported: dict[str, Any], table: str, key: str, *left_out: str) -> dict[str, dict[str, Any]]:
    return {r[key]: {k: v for k, v in r.items() if k not in left_out} for r in exported[table]}


def differ(a: dict[str, Any], b: dict[str, Any], table: str, key: str) -> str:
    left, right = records(a, table, key, "thread_key"), records(b, table, key, "thread_key")
    for name in sorted(set(left) | set(right)):
        if left.get(name) != right.get(name):
            return f"{name}: {left.get(name)} != {right.get(name)}"
    return "(none)"


def threads_by_messages(exported: dict[str, Any]) -> dict[frozenset[str], dict[str, Any]]:
    return {frozenset(m["message_id"] for m in t["messages"]): t for t in exported["threads"]}


def clean_scan(root: Path, mails: list[Mail], now: datetime) -> dict[str, Any]:
    """A never-killed ``kept scan`` of exactly `mails`, into a fresh database."""
    shutil.rmtree(root, ignore_errors=True)
    maildir = root / "Maildir"
    for folder in ("", ".Sent"):
        for part in ("cur", "new", "tmp"):
            (maildir / folder / part).mkdir(parents=True, exist_ok=True)
    for mail in mails:
        path = maildir / mail.folder / "cur" / mail.name
        path.write_bytes(mail.data)
        stamp = int(mail.date.timestamp())
        os.utime(path, (stamp, stamp))
    database = root / "state" / "kept.json"
    config = write_config(root / "config.toml", maildir, database, None)
    code, _ = run_forked(["--config", str(config), "--now", now.isoformat(), "scan", "-q"], root / "output.txt", None)
    assert code == 0, (root / "output.txt").read_text(encoding="utf-8", errors="replace")
    exported = snapshot(database, root / "snapshot")
    assert exported is not None
    return exported


# -- the test ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def durations() -> Iterator[dict[str, float]]:
    """How long each command took unkilled (for the kill delays), once the models are loaded and the
    command modules imported in this process, before any fork."""
    from kept.extractors.promises import PromiseExtractor

    import kept.commands.data  # noqa: F401
    import kept.commands.promises  # noqa: F401
    import kept.commands.threads  # noqa: F401
    import kept.daemon.forget  # noqa: F401
    import kept.daemon.run  # noqa: F401
    import kept.digest.build  # noqa: F401
    import kept.storage.aside  # noqa: F401

    PromiseExtractor()
    yield {}  # filled by `Sequence.kept`, shared by the blocks


def sequence_seeds(block: int) -> list[int]:
    if ONE_SEED is not None:
        return [int(ONE_SEED)] if block == 0 else []
    return list(range(block, SEQUENCES, BLOCKS))


@pytest.mark.parametrize("block", range(BLOCKS))
def test_random_commands_with_kill_9_end_as_the_reference_model(
    block: int, durations: dict[str, float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every `block`-th sequence of `SEQUENCES`; then enough kills must have landed inside the commands."""
    monkeypatch.setenv("KEPT_SCAN_BATCH", SCAN_BATCH)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    # The message file takes messages from the main file every few (KEPT_HOT_MESSAGES is read at import).
    monkeypatch.setitem(TinyDBStore.__init__.__kwdefaults__, "hot_messages", HOT_MESSAGES)
    total = Stats()
    for seed in sequence_seeds(block):
        root = tmp_path / f"seq{seed}"
        root.mkdir(mode=0o700)
        sequence = Sequence(seed, root, durations)
        sequence.run(random.Random(seed).randint(10, 16))
        total.add(sequence.stats)
        shutil.rmtree(root)
    print(f"\nblock {block}: {total.report()}")
    if total.sequences >= 10:
        kills, landed = sum(total.kills.values()), sum(total.landed.values())
        assert landed >= kills // 3, f"too few kills landed before their command ended: {total.report()}"
        assert sum(total.mid_write.values()) >= total.sequences // 5, total.report()
