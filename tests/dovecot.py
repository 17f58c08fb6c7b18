"""A real Dovecot IMAP server for tests, run from a throw-away configuration.

`DovecotServer.start` writes a config into a private temporary directory,
makes a self-signed certificate for ``localhost``/``127.0.0.1``, and runs
``dovecot -F -c CONF`` with two listeners on free ports: plain IMAP (for
STARTTLS) and implicit-TLS IMAPS. The passwd-file is written once with a
pool of users, so each test takes its own user and starts from an empty
mailbox.

Messages are put in place over IMAP from the test side (APPEND with flags);
`DovecotServer.change_uidvalidity` uses ``doveadm`` to give a folder a new
UIDVALIDITY, as a server does when it rebuilds a mailbox.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import imapclient

from kept.settings import ImapAccount

INSTALL_HINT = "Dovecot is not installed; run `make test` or `sudo .ci/install-dovecot.sh` first"

# Folder names the config marks with a SPECIAL-USE flag for every user.
SPECIAL_USE = {"Sent": r"\Sent", "Gesendet": r"\Sent", "Trash": r"\Trash"}

# How many users the passwd-file holds; each test takes a fresh one.
USER_POOL_SIZE = 200

CONFIG_TEMPLATE = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
# An imap process syncing a folder of 700,000 messages (the 1,000,000-message
# benchmark's INBOX) needs more than Dovecot's default 256 MB.
default_vsz_limit = 2G
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests log in with wrong passwords on purpose; no delays or penalties.
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{root}/mail/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
  default_fields = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
{special_use}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  # No growing delays after the wrong-password tests (Authentication/Penalty).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service doveadm {{
  unix_listener doveadm-server {{
    mode = 0600
  }}
}}
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class MailUser:
    """A Dovecot user made for one test."""

    name: str
    password: str


class DovecotServer:
    """One running Dovecot; use `start` and `stop` (the session fixture does)."""

    def __init__(
        self, root: Path, imap_port: int, imaps_port: int, process: subprocess.Popen, binary: str
    ) -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.imap_port = imap_port
        self.imaps_port = imaps_port
        self.ca_file = root / "cert.pem"
        self._process = process
        self._binary = binary
        self._unused_users = self._user_pool()

    @classmethod
    def start(cls, timeout: float = 15.0, extra_config: str = "") -> DovecotServer:
        """Configure and start Dovecot; raise RuntimeError if it does not come up.

        `extra_config` is appended to the configuration (e.g. another passdb).
        """
        binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
        if binary is None:
            raise FileNotFoundError(INSTALL_HINT)
        root = Path(tempfile.mkdtemp(prefix="kept-dovecot-"))
        # The mail user and Dovecot's own users must be able to reach their files.
        root.chmod(0o755)
        (root / "mail").mkdir(mode=0o755)
        if os.geteuid() == 0:
            login_user, internal_user = "dovenull", "dovecot"
            mail_user = pwd.getpwnam("dovecot")
        else:
            # Without root nothing can switch users: everything runs as us.
            mail_user = pwd.getpwuid(os.geteuid())
            login_user = internal_user = mail_user.pw_name
        os.chown(root / "mail", mail_user.pw_uid, mail_user.pw_gid)
        _make_certificate(root)
        # Dovecot looks at a changed passwd-file at most once a second, so
        # users are made up front rather than added while it runs.
        (root / "passwd").write_text(
            "".join(f"{user.name}:{{PLAIN}}{user.password}::::::\n" for user in cls._user_pool()),
            encoding="utf-8",
        )
        imap_port, imaps_port = free_port(), free_port()
        special_use = "\n".join(
            f"  mailbox {name} {{\n    special_use = {flag}\n  }}" for name, flag in SPECIAL_USE.items()
        )
        config = root / "dovecot.conf"
        config.write_text(
            CONFIG_TEMPLATE.format(
                root=root,
                login_user=login_user,
                internal_user=internal_user,
                mail_uid=mail_user.pw_uid,
                mail_gid=mail_user.pw_gid,
                special_use=special_use,
                imap_port=imap_port,
                imaps_port=imaps_port,
            )
            + extra_config.replace("{root}", str(root))
        )
        process = subprocess.Popen(
            [binary, "-F", "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        server = cls(root, imap_port, imaps_port, process, binary)
        server._wait_until_listening(timeout)
        return server

    @staticmethod
    def _user_pool() -> list[MailUser]:
        return [
            MailUser(f"user{number}", f"secret-{number}-p\u00e4ss") for number in range(1, USER_POOL_SIZE + 1)
        ]

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = self._process.stdout.read().decode(errors="replace") if self._process.stdout else ""
                self.stop()
                raise RuntimeError(f"dovecot exited with {self._process.returncode}:\n{output}\n{self.log()}")
            try:
                for port in (self.imap_port, self.imaps_port):
                    socket.create_connection((self.host, port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        log = self.log()
        self.stop()
        raise RuntimeError(f"dovecot did not listen within {timeout} s:\n{log}")

    def log(self) -> str:
        """Dovecot's log so far (for failure messages)."""
        try:
            return (self.root / "dovecot.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop Dovecot and remove its files."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def stop_process(self) -> None:
        """Stop the server but keep its configuration and mail, as a crash or restart does.

        The per-connection ``imap`` processes outlive their master, so they
        are ended too: open connections drop, as when the machine goes down.
        """
        children = _descendants(self._process.pid)
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._process.stdout:
            self._process.stdout.close()

    def start_process(self, timeout: float = 15.0) -> None:
        """Start the server again after `stop_process`: same ports, same users, same mail."""
        self._process = subprocess.Popen(
            [self._binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_listening(timeout)

    # -- users and mail ---------------------------------------------------

    def new_user(self) -> MailUser:
        """A user nobody has used yet, with an empty mailbox (INBOX only)."""
        if not self._unused_users:
            raise RuntimeError(f"all {USER_POOL_SIZE} test users are used up; raise USER_POOL_SIZE")
        return self._unused_users.pop(0)

    def account(self, user: MailUser, **overrides: object) -> ImapAccount:
        """An ImapAccount for `user` over implicit TLS that trusts the test certificate."""
        fields: dict[str, object] = {
            "name": f"test-{user.name}",
            "host": self.host,
            "port": self.imaps_port,
            "security": "tls",
            "username": user.name,
            "password_env": "KEPT_TEST_PASSWORD",
            "ca_file": self.ca_file,
            "timeout": 10.0,
        }
        fields.update(overrides)
        return ImapAccount(**fields)  # type: ignore[arg-type]

    def client(self, user: MailUser) -> imapclient.IMAPClient:
        """A logged-in IMAPClient for the test side (not the code under test)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        client = imapclient.IMAPClient(self.host, port=self.imaps_port, ssl=True, ssl_context=context, timeout=10)
        if user.password.isascii():
            client.login(user.name, user.password)
        else:
            client.plain_login(user.name, user.password)
        return client

    def create_folder(self, user: MailUser, name: str) -> None:
        """Create a folder (special-use flags come from `SPECIAL_USE` by name)."""
        with self.client(user) as client:
            client.create_folder(name)

    def append(
        self,
        user: MailUser,
        folder: str,
        data: bytes,
        flags: Iterable[bytes | str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """APPEND a message with the given flags; return its UID."""
        with self.client(user) as client:
            response = client.append(folder, data, flags=tuple(flags), msg_time=internal_date)
        # Dovecot answers "[APPENDUID <uidvalidity> <uid>] Append completed."
        text = response.decode() if isinstance(response, bytes) else str(response)
        return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])

    def append_many(self, user: MailUser, folder: str, messages: Iterable[bytes]) -> None:
        """APPEND several messages over one connection."""
        with self.client(user) as client:
            for data in messages:
                client.append(folder, data)

    def flags(self, user: MailUser, folder: str) -> dict[int, tuple[bytes, ...]]:
        """Every message's FLAGS, read without changing them (EXAMINE + FETCH FLAGS)."""
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            response = client.fetch(uids, ["FLAGS"]) if uids else {}
        return {uid: tuple(sorted(item[b"FLAGS"])) for uid, item in response.items()}

    def uidvalidity(self, user: MailUser, folder: str) -> int:
        """The folder's current UIDVALIDITY."""
        with self.client(user) as client:
            return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def change_uidvalidity(self, user: MailUser, folder: str) -> int:
        """Give `folder` a new UIDVALIDITY, as a rebuilt mailbox gets; return it."""
        new_value = self.uidvalidity(user, folder) + 1
        subprocess.run(
            [
                self._doveadm(),
                "-c",
                str(self.root / "dovecot.conf"),
                "mailbox",
                "update",
                "-u",
                user.name,
                "--uid-validity",
                str(new_value),
                folder,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return new_value

    def _doveadm(self) -> str:
        return shutil.which("doveadm") or str(Path(self._binary).with_name("doveadm"))


def _descendants(pid: int) -> list[int]:
    """Process ids of every descendant of `pid` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name in field 2 may hold spaces; the parent id follows its ")".
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        children = parents.get(pending.pop(), [])
        found += children
        pending += children
    return found


def _make_certificate(root: Path) -> None:
    """A self-signed certificate valid for localhost and 127.0.0.1."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(root / "key.pem"),
            "-out", str(root / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (root / "key.pem").chmod(0o600)
