"""Build a realistic, deterministic mailbox of any size for benchmarks and fault tests.

The mailbox belongs to ``me@home.example`` and mixes what a real one holds:

* conversations of one to seven messages with a few hundred contacts, about
  30 % of all mail sent by the owner (those go to the ``.Sent`` folder);
* replies that carry In-Reply-To/References and replies that only repeat the
  subject (old clients, forwarded copies);
* promises in sent mail ("I'll send you the slides by Friday") and later
  messages that keep them;
* HTML-only mail, multipart/alternative, attachments, newsletters with
  List-Unsubscribe and Precedence: bulk;
* English, German, French, Spanish, Russian and Japanese text in UTF-8,
  ISO-8859-1, Windows-1252, KOI8-R and ISO-2022-JP, with RFC 2047 headers.

The same ``--seed`` and ``--count`` always give byte-identical messages.
Output is a Maildir++ folder (``cur/`` for the inbox, ``.Sent/cur/`` for sent
mail), the layout Dovecot, mbsync and kept's Maildir source read; file
modification times are the messages' dates so "oldest first" is stable.

::

    python benchmarks/generate_mailbox.py --count 10000 --out /tmp/mbox10k
"""

from __future__ import annotations

import argparse
import base64
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

ME = "me@home.example"
ME_NAME = "Sam Rivera"
#: The moment the newest message is dated; scans of a generated mailbox use it as ``--now``.
END = datetime(2026, 3, 18, 7, 0, tzinfo=timezone.utc)

_FIRST = ["Anna", "Bernd", "Chloé", "Diego", "Eva", "François", "Grete", "Hiro", "Ilse", "Jon",
          "Katja", "Luis", "Marta", "Nils", "Olga", "Pablo", "Quentin", "Rosa", "Sven", "Yuki"]
_LAST = ["Müller", "Schmidt", "Dubois", "García", "Rossi", "Tanaka", "Ivanova", "Smith", "Jansen",
         "Kowalski", "Novak", "Berg", "Lefèvre", "López", "Sato", "Petrov", "Brown", "Weber"]
_DOMAINS = ["example.org", "example.net", "firma.example", "societe.example", "empresa.example",
            "kaisha.example", "uni.example"]

# (language, charset, subjects, openers, questions, statements)
_LANGUAGES = [
    ("en", "utf-8",
     ["Budget for Q3", "Lunch next week?", "Contract draft", "Slides for the board", "Site visit",
      "Hiring plan", "Conference travel", "Invoice 2231", "Server migration", "Workshop agenda"],
     ["Hi {name},", "Hello {name},", "Dear {name},"],
     ["Could you send me the latest numbers?", "Can we meet on Thursday?",
      "Do you have time to review the draft?", "What do you think about the proposal?"],
     ["Thanks for the update.", "The meeting went well.", "Attached are my notes.",
      "We are still waiting for legal."]),
    ("de", "iso-8859-1",
     ["Angebot für März", "Termin nächste Woche", "Rückfrage zur Rechnung", "Übergabe"],
     ["Hallo {name},", "Liebe Grüße vorab, {name},"],
     ["Könnten Sie mir die Unterlagen schicken?", "Passt Ihnen Donnerstag?"],
     ["Vielen Dank für die schnelle Antwort.", "Die Änderungen sind eingearbeitet."]),
    ("fr", "windows-1252",
     ["Réunion de lundi", "Devis révisé", "Café la semaine prochaine ?"],
     ["Bonjour {name},", "Chère {name},"],
     ["Pourriez-vous m’envoyer le devis ?", "Êtes-vous disponible mardi ?"],
     ["Merci pour votre réponse rapide.", "Le dossier est complet — à bientôt."]),
    ("es", "utf-8",
     ["Presupuesto año próximo", "Reunión del jueves", "Visita a la fábrica"],
     ["Hola {name},", "Estimada {name},"],
     ["¿Podrías enviarme el informe?", "¿Nos vemos el martes?"],
     ["Gracias por la información.", "Todo está en orden, señor."]),
    ("ru", "koi8-r",
     ["Отчёт за квартал", "Встреча в среду"],
     ["Здравствуйте, {name}!"],
     ["Можете прислать договор?"],
     ["Спасибо за ответ.", "Документы готовы."]),
    ("ja", "iso-2022-jp",
     ["会議の件", "見積もりについて"],
     ["{name}様"],
     ["資料を送っていただけますか？"],
     ["ありがとうございます。", "よろしくお願いします。"]),
]
# Languages weighted like a European business mailbox: mostly English.
_LANGUAGE_WEIGHTS = [70, 10, 8, 6, 3, 3]

_PROMISES = [
    ("I'll send you the {thing} by {day}.", "Here is the {thing} I promised. Sorry it took a while."),
    ("I will call you on {day} to go through the {thing}.", "As discussed on the phone, the {thing} is settled."),
    ("Let me get back to you about the {thing} next week.", "Getting back to you about the {thing}: we go ahead."),
    ("I'll introduce you to Marta, she knows the {thing} inside out.", "Marta, meet my colleague; see the {thing} below."),
    ("I will review the {thing} and send comments tomorrow.", "My comments on the {thing} are attached."),
]
_THINGS = ["slides", "contract", "report", "budget", "draft", "figures", "invoice", "agenda", "photos"]
_DAYS = ["Friday", "Monday", "tomorrow", "the end of the week", "Thursday"]
# Real subjects are diverse: a base subject plus a project or client name.
_TOPICS = ["Atlas", "Borealis", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris", "Juniper",
           "Kestrel", "Lumen", "Meridian", "Nimbus", "Onyx", "Pioneer", "Quarry", "Raven", "Sierra", "Tundra",
           "Umber", "Vertex", "Willow", "Xenon", "Yarrow", "Zephyr", "ACME", "Globex", "Initech", "Umbrella",
           "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell", "Cyberdyne", "Aperture", "Wonka", "Oscorp"]

_NEWSLETTERS = [("news@shop.example", "Weekly deals"), ("digest@forum.example", "Forum digest"),
                ("noreply@bank.example", "Your statement is ready"),
                ("updates@saas.example", "Product updates for March")]


@dataclass(frozen=True)
class GeneratedMessage:
    """One generated message: its bytes, whether the owner sent it, and its date."""

    data: bytes
    sent: bool
    date: datetime
    message_id: str


def _header(text: str, charset: str) -> str:
    """`text` as a header value: plain if ASCII, else RFC 2047 encoded words."""
    if text.isascii():
        return text
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    return Header(text, charset).encode()


def _address(name: str, email: str, charset: str) -> str:
    return f"{_header(name, charset)} <{email}>" if name else email


def _encode_body(text: str, charset: str) -> tuple[bytes, str]:
    """Body bytes in `charset` and the Content-Transfer-Encoding used."""
    try:
        raw = text.encode(charset)
    except UnicodeEncodeError:
        raw, charset = text.encode("utf-8"), "utf-8"
    if charset == "iso-2022-jp" or raw.isascii():
        return raw, "7bit"
    # Quoted-printable would be more typical; base64 keeps it simple and exercises decoding.
    return base64.encodebytes(raw), "base64"


class MailboxGenerator:
    """Yields generated messages, oldest first.

    :param count: how many messages in total.
    :param seed: the random seed; the same seed gives the same mailbox.
    :param days: how many days before `END` the mailbox starts.
    :param sent_share: the share of the owner's own (sent) mail; by default
        about 30 %, as in a typical mailbox, and 0.9 for one like the Enron
        writers' (issue 16): fewer newsletters, and most conversation mail the
        owner's. The default draws exactly the mailbox it always drew.
    """

    def __init__(self, count: int, seed: int = 7, days: int = 720, sent_share: float | None = None) -> None:
        self.count = count
        self.seed = seed
        self.days = days
        if sent_share is None:
            self.newsletter_share, self.mine_share = 0.12, 0.34
        elif not 0.0 < sent_share < 1.0:
            raise ValueError(f"sent_share must be between 0 and 1, not {sent_share!r}")
        else:
            self.newsletter_share = min(0.12, (1.0 - sent_share) / 3)
            self.mine_share = min(1.0, sent_share / (1.0 - self.newsletter_share))
        self._rng = random.Random(seed)
        rng = random.Random(seed + 1)
        self.contacts = [
            (f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", f"c{n}@{rng.choice(_DOMAINS)}")
            for n in range(max(20, count // 40))
        ]

    def __iter__(self) -> Iterator[GeneratedMessage]:
        rng = self._rng
        start = END - timedelta(days=self.days)
        step = timedelta(days=self.days) / max(self.count, 1)
        produced = 0
        thread = 0
        # Several conversations interleave, as in a real mailbox.
        open_threads: list[dict] = []
        while produced < self.count:
            when = start + step * produced + timedelta(seconds=rng.randrange(0, 60))
            if rng.random() < self.newsletter_share:
                yield self._newsletter(rng, when, produced)
                produced += 1
                continue
            if not open_threads or (len(open_threads) < 40 and rng.random() < 0.35):
                thread += 1
                language = rng.choices(_LANGUAGES, weights=_LANGUAGE_WEIGHTS)[0]
                open_threads.append({
                    "n": thread, "language": language, "contact": rng.choice(self.contacts),
                    "subject": f"{rng.choice(language[2])} {rng.choice(_TOPICS)}{rng.choice(['', ' (2)', ' 2026', ' v2'])}",
                    "messages": [], "length": rng.randint(1, 7),
                    "mine_first": rng.random() < self.mine_share, "promise": None,
                })
            state = rng.choice(open_threads)
            yield self._conversation_message(rng, state, when, produced)
            produced += 1
            if len(state["messages"]) >= state["length"]:
                open_threads.remove(state)

    def _newsletter(self, rng: random.Random, when: datetime, number: int) -> GeneratedMessage:
        sender, subject = rng.choice(_NEWSLETTERS)
        message_id = f"<news{number}.{self.seed}@lists.example>"
        items = "".join(f"<li><a href=\"https://shop.example/item/{rng.randrange(10**6)}\">Offer {i}</a></li>"
                        for i in range(rng.randint(3, 12)))
        html = (f"<html><body><h1>{subject}</h1><ul>{items}</ul>"
                f"<p><a href=\"https://shop.example/unsubscribe\">Unsubscribe</a></p></body></html>")
        headers = [
            ("Message-ID", message_id), ("Date", format_datetime(when)),
            ("From", f"{subject.split()[0]} <{sender}>"), ("To", ME), ("Subject", f"{subject} #{number}"),
            ("List-Unsubscribe", "<https://shop.example/unsubscribe>"), ("Precedence", "bulk"),
            ("MIME-Version", "1.0"), ("Content-Type", 'text/html; charset="utf-8"'),
            ("Content-Transfer-Encoding", "7bit"),
        ]
        return GeneratedMessage(_assemble(headers, html.encode()), False, when, message_id)

    def _conversation_message(
        self, rng: random.Random, state: dict, when: datetime, number: int
    ) -> GeneratedMessage:
        language, charset, _subjects, openers, questions, statements = state["language"]
        name, address = state["contact"]
        index = len(state["messages"])
        # About a third of conversation mail is the owner's (30 % of all mail
        # with the newsletters); replies do not strictly alternate.
        mine = state["mine_first"] if index == 0 else rng.random() < self.mine_share
        message_id = f"<t{state['n']}.{index}.{self.seed}@{'me' if mine else 'them'}.example>"
        lines = [rng.choice(openers).format(name=(name if mine else ME_NAME).split()[0]), ""]
        if mine and language == "en" and state["promise"] is None and rng.random() < 0.35:
            template = rng.choice(_PROMISES)
            thing = rng.choice(_THINGS)
            state["promise"] = (template, thing)
            lines.append(template[0].format(thing=thing, day=rng.choice(_DAYS)))
        elif mine and state["promise"] is not None and rng.random() < 0.6:
            template, thing = state["promise"]
            lines.append(template[1].format(thing=thing))
        lines.append(rng.choice(statements))
        if rng.random() < 0.4:
            lines.append(rng.choice(questions))
        lines += ["", "Sam" if mine else name.split()[0]]
        if state["messages"] and rng.random() < 0.5:
            lines += ["", f"On {format_datetime(when - timedelta(hours=5))}, someone wrote:"]
            lines += [f"> {line}" for line in rng.choice(statements).split(". ")]
        text = "\n".join(lines) + "\n"
        subject = state["subject"] if index == 0 else f"Re: {state['subject']}"
        sender = _address(ME_NAME, ME, charset) if mine else _address(name, address, charset)
        recipient = _address(name, address, charset) if mine else _address(ME_NAME, ME, charset)
        headers = [
            ("Message-ID", message_id), ("Date", format_datetime(when)), ("From", sender), ("To", recipient),
            ("Subject", _header(subject, charset)), ("MIME-Version", "1.0"),
        ]
        if state["messages"] and rng.random() < 0.8:
            # One reply in five has lost its reply headers (forwarded copies, old clients).
            previous = state["messages"][-1]
            headers += [("In-Reply-To", previous), ("References", " ".join(state["messages"][-5:]))]
        if rng.random() < 0.1 and index:
            headers.append(("Cc", _address("Team", f"team@{address.split('@')[1]}", charset)))
        state["messages"].append(message_id)
        kind = rng.random()
        if kind < 0.12:
            data = _html_only(headers, text, charset)
        elif kind < 0.22:
            data = _with_attachment(headers, text, charset, rng, number)
        elif kind < 0.35:
            data = _alternative(headers, text, charset, number)
        else:
            body, encoding = _encode_body(text, charset)
            headers += [("Content-Type", f'text/plain; charset="{charset}"'),
                        ("Content-Transfer-Encoding", encoding)]
            data = _assemble(headers, body)
        return GeneratedMessage(data, mine, when, message_id)


def _assemble(headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("ascii")
    return head + b"\r\n" + body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _html_paragraphs(text: str) -> str:
    from html import escape

    return "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line.strip())


def _html_only(headers: list[tuple[str, str]], text: str, charset: str) -> bytes:
    html = f"<html><body style=\"font-family:sans-serif\">{_html_paragraphs(text)}</body></html>\n"
    body, encoding = _encode_body(html, "utf-8")
    return _assemble(headers + [("Content-Type", 'text/html; charset="utf-8"'),
                                ("Content-Transfer-Encoding", encoding)], body)


def _alternative(headers: list[tuple[str, str]], text: str, charset: str, number: int) -> bytes:
    boundary = f"alt-{number}"
    plain, plain_encoding = _encode_body(text, charset)
    html, html_encoding = _encode_body(f"<html><body>{_html_paragraphs(text)}</body></html>\n", "utf-8")
    body = (
        f"--{boundary}\nContent-Type: text/plain; charset=\"{charset}\"\n"
        f"Content-Transfer-Encoding: {plain_encoding}\n\n"
    ).encode() + plain + (
        f"\n--{boundary}\nContent-Type: text/html; charset=\"utf-8\"\n"
        f"Content-Transfer-Encoding: {html_encoding}\n\n"
    ).encode() + html + f"\n--{boundary}--\n".encode()
    return _assemble(headers + [("Content-Type", f'multipart/alternative; boundary="{boundary}"')], body)


def _with_attachment(
    headers: list[tuple[str, str]], text: str, charset: str, rng: random.Random, number: int
) -> bytes:
    boundary = f"mixed-{number}"
    plain, plain_encoding = _encode_body(text, charset)
    payload = base64.encodebytes(rng.randbytes(rng.randint(2_000, 40_000)))
    name, mime = rng.choice([("report.pdf", "application/pdf"), ("photo.jpg", "image/jpeg"),
                             ("Übersicht.xlsx", "application/vnd.ms-excel")])
    body = (
        f"--{boundary}\nContent-Type: text/plain; charset=\"{charset}\"\n"
        f"Content-Transfer-Encoding: {plain_encoding}\n\n"
    ).encode() + plain + (
        f"\n--{boundary}\nContent-Type: {mime}; name=\"{_header(name, 'utf-8')}\"\n"
        f"Content-Disposition: attachment; filename=\"{_header(name, 'utf-8')}\"\n"
        "Content-Transfer-Encoding: base64\n\n"
    ).encode() + payload + f"--{boundary}--\n".encode()
    return _assemble(headers + [("Content-Type", f'multipart/mixed; boundary="{boundary}"')], body)


def write_maildir(messages: Iterator[GeneratedMessage], root: Path, *, start: int = 0) -> tuple[int, int]:
    """Write messages into the Maildir++ at `root` (``cur/`` and ``.Sent/cur/``).

    File names are deterministic (``<number>.gen.<host>:2,S``) and each file's
    modification time is the message's date. `start` offsets the numbers so
    later calls add mail without clashing. Returns (received, sent) counts.
    """
    counts = [0, 0]
    for folder in (root, root / ".Sent"):
        for part in ("cur", "new", "tmp"):
            (folder / part).mkdir(parents=True, exist_ok=True)
    for number, message in enumerate(messages, start):
        folder = root / ".Sent" if message.sent else root
        path = folder / "cur" / f"{1_600_000_000 + number}.M{number}P1.gen:2,S"
        path.write_bytes(message.data)
        stamp = message.date.timestamp()
        os.utime(path, (stamp, stamp))
        counts[message.sent] += 1
    return counts[0], counts[1]


def main() -> None:
    """Command line: write a generated mailbox to a Maildir."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True, help="the Maildir to create")
    args = parser.parse_args()
    received, sent = write_maildir(iter(MailboxGenerator(args.count, args.seed)), args.out)
    print(f"wrote {received} received and {sent} sent messages to {args.out}")


if __name__ == "__main__":
    main()
