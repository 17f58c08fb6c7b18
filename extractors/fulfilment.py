"""Deciding whether a later sent message keeps a promise.

A promise is kept only when a later message from the user *carries the
promised thing* to the people it was promised to. Everything below was
chosen by reading the statuses a scan gave on the Enron dev mailboxes
(allen-p, beck-s, nemec-g): before these rules 20 of 69 "kept" were wrong
in ways a reader sees at once: a "Here are ..." to the same person months
later, "Thanks for following up", a question back, a "Still working on
it", a forward to someone else in the thread, a second copy of the promise.

Who and when (all must hold):

* the later message is sent by the user after the promise, and it goes to
  someone other than the user's own addresses (forwarding a thread to
  one's other mailbox delivers nothing);
* it goes no later than `GRACE_DAYS` past the promise's due date and no
  later than `MAX_DAYS` after the promise was made: every delivery read
  on the dev mail came within 8 days; the wrong closings came 1 to 13
  months later;
* it is a reply in the promise's thread to one of the people promised
  (To or Cc); or it is addressed (To) to one of them, the promise was made
  to at most `MAX_COUNTERPARTIES_OUTSIDE_THREAD` people, and it is about
  the same thing (`_shares_topic`); or it goes to the third party the
  promise names ("I will forward it to Barry", "I'll ask Patti", "send
  Clara a message") — then only that person's mail counts, since the
  promise is to reach them.

What it carries (one is needed):

* a forward of earlier mail (`MailMessage.forwarded`), an attachment or a
  link, for a promise to send, forward, pass on or provide something;
* a calendar invitation, for a promise to call or meet;
* "as promised" / "as requested" / "per your request";
* delivery wording ("here is", "attached are"), for a promise to deliver;
* an inline answer in a reply in the thread: figures, a table, a report
  back ("I spoke to Brent", "I reviewed the contract") or a statement on
  the promise's topic; not a question back. For a thing to send or pass
  on, figures count only when the reply names that thing;
* wording saying a call or meeting took place ("good talking to you");
* an introduction, for a promise to introduce;
* "it is done" wording, for other promises;
* for a promise only to write ("I will e-mail you tomorrow", "send Clara a
  message"), mail of substance to them: in the thread, or outside it near
  the promised day or on its matter; never one that makes the promise
  again ("I will e-mail you tomorrow to see if ...").

Never: an acknowledgement alone ("Cool.", "Thanks!"), a deferral ("still
working on it", "I will get back with you"), or a message that repeats the
promise (a copy of the same note, or the promise made again).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from kept.extractors.asks import asks
from kept.extractors.replies import is_acknowledgement
from kept.models import Address, MailMessage, Promise

__all__ = ["find_fulfilment", "name_tokens", "recipient_tokens", "GRACE_DAYS", "MAX_DAYS"]

#: Days past the due date a delivery may still come and close the promise.
GRACE_DAYS = 7
#: Days after the promise beyond which no message closes it any more.
MAX_DAYS = 30
#: A promise made to more people than this is closed outside its thread only
#: by the user: a later mass mail to some of them says nothing about it.
MAX_COUNTERPARTIES_OUTSIDE_THREAD = 5
# Fresh text read; the answer sits at the top.
_MAX_BODY = 50_000

_AS_PROMISED = re.compile(
    r"\b(?:as\s+promised|as\s+i\s+promised)\b",
    re.IGNORECASE,
)
_DELIVERY = re.compile(
    r"\b(?:here\s+(?:is|are)|here's|attached\s+(?:is|are|please\s+find)|please\s+find\s+attached|"
    r"i\s+have\s+attached|i've\s+attached|attached\s+you\s+will\s+find|enclosed\s+(?:is|are)|"
    r"below\s+(?:is|are)|i\s+(?:am|'m)\s+(?:forwarding|sending)|forwarding\s+(?:you|this))\b",
    re.IGNORECASE,
)
_MET = re.compile(
    r"\b(?:(?:good|nice|great|pleasure)\s+(?:talking|speaking|meeting|seeing|chatting)|"
    r"(?:good|nice|great)\s+to\s+(?:talk|speak|see|meet)|thanks?\s+(?:you\s+)?for\s+(?:the\s+)?"
    r"(?:call|meeting|lunch|dinner|time)|per\s+our\s+(?:call|conversation|meeting|discussion)|"
    r"(?:talked|spoke|met)\s+(?:to|with)\s+you)\b",
    re.IGNORECASE,
)
_INTRODUCTION = re.compile(
    r"\b(?:introduc(?:e|ing|tion)|i'd\s+like\s+you\s+to\s+meet|want(?:ed)?\s+to\s+connect\s+you|"
    r"put(?:ting)?\s+you\s+(?:two\s+)?in\s+touch|meet\s+each\s+other)\b",
    re.IGNORECASE,
)
_DONE = re.compile(
    r"\b(?:(?:it|this|that)\s+(?:is|has\s+been)\s+(?:done|taken\s+care\s+of|completed|fixed|paid|signed)|"
    r"i\s+(?:have|'ve)\s+(?:done|taken\s+care\s+of|completed|fixed|paid|signed|set\s+up)|all\s+set)\b",
    re.IGNORECASE,
)
# Reporting back what was promised to be found out.
_REPORT = re.compile(
    r"\b(?:(?:i|we)\s+(?:have\s+|just\s+|already\s+|finally\s+)?(?:spoke|spoken|talked|checked|heard|found|"
    r"looked\s+(?:into|at)|reviewed|confirmed|learned|verified|got\s+(?:an?\s+)?(?:answer|word|response))|"
    r"heard\s+back|just\s+(?:heard|spoke|talked)\s+(?:from|to|with)|turns\s+out|the\s+answer\s+is)\b",
    re.IGNORECASE,
)
# Promises whose action is to write to the person: any later message of
# substance to them keeps it ("I will email you tomorrow", "I'll be in touch").
_CONTACT_YOU = re.compile(
    r"(?:e-?mail|write(?:\s+to)?|contact|reach)\s+you\b|send\s+(?:you\s+)?an?\s+(?:e-?mail|note|message|line)\b|"
    r"drop\s+you\s+an?\s+(?:line|note|e-?mail)\b|be\s+in\s+touch\b",
    re.IGNORECASE,
)
# The contact promise made again ("I will e-mail you tomorrow to see if we
# can schedule a time"): it is put off, not kept.
_CONTACT_AGAIN = re.compile(
    r"\b(?:will|'ll|shall)\s+(?:e[-:]?mail|write(?:\s+to)?|contact|reach|get\s+back\s+to|be\s+in\s+touch\s+with)\s+you\b"
    r"|\b(?:will|'ll|shall)\s+send\s+(?:you\s+)?an?\s+(?:e[-:]?mail|note|message)\b",
    re.IGNORECASE,
)
# Promises to write to the person they name ("send Clara a message about
# the meeting", "email Bob"): mail to that person on the matter keeps them.
_PERSON = r"(?:(?i:mr|ms|mrs|dr)\.?\s+)?[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?"
_CONTACT_NAMED = re.compile(
    r"(?:send|drop)\s+" + _PERSON + r"\s+an?\s+(?:e-?mail|note|message|line)\b"
    r"|(?:e-?mail|write(?:\s+to)?|contact)\s+" + _PERSON + r"(?:\s*$|\s+(?:about|regarding|re)\b)",
)
# "I will email you a form", "... some photos": the mail carries a thing, so
# writing to them is not enough (labelled wrong "kept" on the dev digests).
_CONTACT_WITH_OBJECT = re.compile(
    r"(?:e-?mail|write(?:\s+to)?|contact|reach)\s+you\s+(?:a|an|the|some|my|our|this|that|these|those|copies|\d)\b",
    re.IGNORECASE,
)
#: A later message to more people than this is a mailing: it keeps no
#: promise made to a few of them ("We will get you documents" is not kept by
#: the updated assignment list sent to the whole group).
MASS_RECIPIENTS = 10
#: A call or meeting outside the thread counts only this many days past its
#: due day: "Thanks for the call" a week after "Let's talk tomorrow" was
#: another call.
CALL_GRACE_DAYS = 2
# Saying it is not done yet: such a message defers the promise, it does not keep it.
_DEFERRAL = re.compile(
    r"\b(?:still\s+(?:working|waiting|looking|trying|checking)|working\s+on\s+it|"
    r"(?:haven't|have\s+not|hasn't|has\s+not)\s+(?:heard|had\s+(?:a\s+)?(?:chance|time)|gotten|got|received|been\s+able)|"
    r"(?:will|'ll|shall)\s+(?:get|be)\s+back\s+(?:to|with|in\s+touch)|until\s+i\s+get\s+back|"
    r"(?:will|'ll)\s+(?:let\s+you\s+know|be\s+in\s+touch|follow\s+up)|sorry\s+(?:about|for)\s+the\s+delay|"
    r"(?:didn't|did\s+not)\s+get\s+to|(?:could|can|did|have|has)(?:n't|\s+not)\s+(?:yet\s+)?(?:find|found|locate|reach|get\s+(?:hold|through))|ran\s+out\s+of\s+time|(?:wasn't|was\s+not|haven't\s+been|have\s+not\s+been)\s+able)\b",
    re.IGNORECASE,
)
# Figures: money, percentages, quantities with units.
_FIGURE = re.compile(
    r"(?:[$\u00a3\u20ac]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:%|percent\b|cents?\b|mm\b|mmbtu\b|mw\b|"
    r"mwh\b|bcf\b|dth\b|million\b|billion\b|dollars\b|shares\b))",
    re.IGNORECASE,
)
# A row of a pasted table: three or more cells split by tabs or wide gaps.
_TABLE_ROW = re.compile(r"^[^\t\n]{0,80}?\S(?:\t+| {3,})\S[^\t\n]{0,80}?(?:\t+| {3,})\S")
# Verbs that make the promise about getting something to someone.
_PASSING = re.compile(
    r"\b(?:forward\w*|pass\w*|send\w*|sent|copy|copies|provid\w*|deliver\w*|give|giving|share|sharing|"
    r"circulat\w*|distribut\w*|ask|asking|introduc\w*|get\s+(?:it|this|that|them|these|those)\s+to|e-?mail)\b",
    re.IGNORECASE,
)
# "I will take a look at this and get it back to you": the thing comes back,
# so a follow-up of this wording is kept as a delivery is.
_RETURNS_IT = re.compile(
    r"\b(?:get|send|have|turn|e-?mail|fax)\s+(?:it|this|that|them|these|those|the\s+\w+)\s+back\s+to\s+(?:you|him|her|them)\b"
    r"|\breturn\s+(?:it|this|that|them|these|those)\s+to\s+(?:you|him|her|them)\b",
    re.IGNORECASE,
)
# Promises whose thing is the mail itself: a forward of the thread delivers them.
_FORWARDING = re.compile(
    r"\b(?:forward\w*|pass\w*\s+(?:\w+\s+)?(?:along|on)|send\w*|sent|copy|share|sharing|circulat\w*|distribut\w*)\b",
    re.IGNORECASE,
)
# An action done to the reader: "give you an update", "send you the file".
_TO_THE_READER = re.compile(r"\A[a-z]+\s+(?:you|u)\b(?!\s+and\b)", re.IGNORECASE)
# A call or meeting with the person promised ("call you", "let's talk").
_WITH_THEM = re.compile(r"\b(?:you|let's|let\s+us)\b", re.IGNORECASE)
_HONORIFIC = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir"})
_NAME_TOKEN = re.compile(r"[A-Za-z][A-Za-z'-]+")
_WORD = re.compile(r"[a-z][a-z'-]{3,}")
_COMMON = frozenset(
    "will with that this from your have send call back them they what when then there their "
    "about some more also into just over give make take look check know tomorrow today week "
    "monday tuesday wednesday thursday friday next soon forward forwarding forwarded sending "
    "attached attach please thanks need like able shortly these those once sure would could should "
    "copy copies email e-mail note information info get getting let sometime time later asap "
    "agreement agreements document documents docs draft comments letter review here think people good great "
    "share sharing along pass passing fully".split()
)
_STEM = 5
# "i'll", "we've", "don't": words of the grammar, not of the matter ("i'll
# pass the book along" met "i'll let craig know" in a reply on wine).
_CONTRACTION = re.compile(r"[a-z]+(?:'(?:ll|ve|re|m|d)|n't)")
_ACRONYM = re.compile(r"\b[A-Z]{3,5}\b")
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z]{2,}\b")
#: Outside the thread, an attachment this soon after the promise, to the
#: person, with a subject on the topic, needs only one shared word: "I will
#: get this to you tomorrow" (subject "Exxon credit") kept an hour later by
#: "ExxonMobil Guaranty" with the file.
PROMPT_DAYS = 3


def _stems(text: str) -> set[str]:
    # Prefixes, so "revisions" meets "revised" and "independant" meets
    # "independent" (both seen in real deliveries). A word in "-able" is
    # apart from its verb: "a new executable" is not "a fully executed copy"
    # ("receivable" still meets "receivables").
    stems = {
        word[:_STEM] + "-able" if word.endswith(("able", "ables")) else word[:_STEM]
        for word in _WORD.findall(text.lower())
        if word not in _COMMON and not _CONTRACTION.fullmatch(word)
    }
    # Short capitalised names of the thing: "LOI", "CSA", "MSA".
    return stems | {word.lower() for word in _ACRONYM.findall(text)}


def _shared(promise: Promise, text: str) -> tuple[int, int]:
    """(content words of the promise, how many of them `text` holds).

    The whole sentence is read, not only the action: the action of "I will
    try and get my dad to take the appraiser into a couple of units" may be
    "get my dad", which has no content word at all.
    """
    wanted = _stems(f"{promise.action}\n{promise.sentence}")
    return len(wanted), len(wanted & _stems(text[:20_000]))


def _shares_topic(promise: Promise, later: MailMessage) -> bool:
    """True if a message outside the promise's thread is about the promised thing.

    Its subject (or a file name) must hold a content word of the promise
    (its sentence or its message's subject), and its subject and text
    together two of them (or all there are), or one for a file sent within
    `PROMPT_DAYS`: "Draft Agenda" to the same person is not "the global
    report", though its text says "report" and "year".
    """
    wanted = _stems(f"{promise.action}\n{promise.sentence}\n{promise.subject}")
    if not wanted:
        return False
    if not wanted & _stems(f"{later.subject}\n{' '.join(later.attachment_names)}"):
        return False
    shared = wanted & _stems(f"{later.subject}\n{later.body_text[:20_000]}")
    if len(shared) >= min(2, len(wanted)):
        return True
    prompt = _utc(later.date) <= _utc(promise.made_at) + timedelta(days=PROMPT_DAYS)
    if not prompt:
        return False
    # A file named for the promised thing ("slides.pdf" for "I'll send you the
    # slides"), or "as promised" beside it, sent soon after, is about it.
    action = _stems(promise.action)
    if later.has_attachment and action & _stems(" ".join(later.attachment_names)):
        return True
    if action & shared and _AS_PROMISED.search(later.body_text[:20_000]):
        return True
    # Otherwise the one word must be a name ("Exxon", "Huber", "LOI"), not "report".
    names = _stems(" ".join(_CAPITALISED.findall(f"{promise.sentence}\n{promise.subject}")))
    return bool(shared & names) and (
        later.has_attachment or later.forwarded or bool(_DELIVERY.search(later.body_text[:20_000]))
    )


def _names_the_object(promise: Promise, later: MailMessage) -> bool:
    """True if the later message names what the promise's action names, or the action names nothing.

    "I will forward Exhibit A to the agreement" is not kept by "Attached is
    the agreement revised per your notes". An action of three content words
    or more needs two of them: "a form purchase and sale agreement" is not
    "the latest docs ... I am working on a form".
    """
    wanted = _stems(promise.action)
    if not wanted:
        return True
    text = f"{later.subject}\n{' '.join(later.attachment_names)}\n{later.body_text[:20_000]}"
    return len(wanted & _stems(text)) >= (1 if len(wanted) <= 2 else 2)


_PREFIXES = re.compile(r"^(?:\s*(?:re|fw|fwd|aw|wg)\s*:\s*)+", re.IGNORECASE)


def _same_subject(promise: Promise, later: MailMessage) -> bool:
    """True if the later subject holds the promise's whole subject: a new thread on the same matter."""
    subject = _normal(_PREFIXES.sub("", promise.subject))
    return len(subject) >= 8 and subject in _normal(later.subject)


def _names_target(promise: Promise, names: tuple[str, ...]) -> bool:
    """True if the promise is to reach the named person: "forward it to Barry", "ask Patti"."""
    if not names:
        return False
    target = re.compile(
        # Only capitalised name words may stand between: "to Steve Schneider",
        # not "to you from Max".
        r"\b(?i:to|ask|tell|with|cc|copy)\s+(?:(?i:mr|ms|mrs|dr)\.?\s+)?(?:[A-Z][\w'-]{0,30}\s+){0,2}(?i:"
        + re.escape(names[0]) + r")\b(?!['\u2019]s\b)"
    )
    return bool(target.search(promise.sentence[:2_000]))


def _on_topic_in_thread(promise: Promise, later: MailMessage, *, vague_ok: bool) -> bool:
    """True if a reply in the thread speaks of the promised thing.

    One content word of the action is enough when it has one or two, two
    when it has more. An action without content words ("check this", "let
    you know") matches only when `vague_ok`.
    """
    wanted, shared = _shared(promise, f"{later.subject}\n{later.body_text}")
    if not wanted:
        return vague_ok
    return shared >= (1 if wanted <= 2 else 2)


def _wrote_to_named(promise: Promise, later: MailMessage, name: str, recipients: list[Address]) -> str | None:
    """Evidence that `later`, addressed to the person a promise to write to names, keeps it ("send Clara a message").

    It must be on the promise's matter by a word other than the person's
    names ("Clara, golf on Saturday?" is not about the meeting), say more
    than thanks, and neither put the matter off nor promise the mail again.
    """
    if len(recipients) > MASS_RECIPIENTS:
        return None
    body = later.body_text[:_MAX_BODY]
    if is_acknowledgement(body) or _DEFERRAL.search(body) or _CONTACT_AGAIN.search(body):
        return None
    sentence = _normal(promise.sentence)
    if len(sentence) >= 20 and sentence in _normal(body):
        return None  # a copy of the promise
    named = _stems(f"{name} {promise.named_person or ''}")
    about = _stems(f"{promise.action}\n{promise.subject}") - named
    if not about & (_stems(f"{later.subject}\n{body[:20_000]}") - named):
        return None
    return f"wrote to {name.title()} in {later.message_id}"


def name_tokens(named_person: str | None) -> tuple[str, ...]:
    """Lower-cased words of a named person that identify them: the surname, else the only name.

    "Ms. Patrick" gives ``("patrick",)``, "Tom Gros" ``("gros",)``,
    "Barry" ``("barry",)``; honorifics and one-letter words are skipped.
    """
    if not named_person:
        return ()
    words = [w.lower() for w in _NAME_TOKEN.findall(named_person[:100]) if w.lower() not in _HONORIFIC]
    return (words[-1],) if words else ()


def recipient_tokens(addresses: Iterable[Address]) -> set[str]:
    """Lower-cased name words of recipients: display-name words and address local-part words."""
    tokens: set[str] = set()
    for address in addresses:
        tokens.update(w.lower() for w in _NAME_TOKEN.findall(address.name[:200]))
        local = address.email.split("@", 1)[0]
        tokens.update(w for w in re.split(r"[._+-]+", local[:100]) if len(w) > 1)
    return tokens


def _outside_domains(promise: Promise, mine: set[str]) -> str:
    """First labels of the domains the promise went to, other than the user's own.

    "forward to Barry" made to paul@cinergy.com is kept by "Cinergy Letter".
    """
    own = {address.rsplit("@", 1)[-1] for address in mine}
    domains = {p.rsplit("@", 1)[-1] for p in promise.counterparties if "@" in p}
    return " ".join(d.split(".")[0] for d in sorted(domains - own))


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so comparisons never raise."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _quote(match: re.Match[str]) -> str:
    return " ".join(match.group(0).split())


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _too_late(promise: Promise, later: MailMessage) -> bool:
    made = _utc(promise.made_at)
    sent = _utc(later.date)
    if sent > made + timedelta(days=MAX_DAYS):
        return True
    due = promise.due or (made + timedelta(days=GRACE_DAYS)).date()
    return sent.date() > due + timedelta(days=GRACE_DAYS)


def _inline_answer(body: str) -> str | None:
    """What in a reply's text answers a request inline: figures or a table."""
    figure = _FIGURE.search(body)
    if figure:
        return f'figures "{_quote(figure)}"'
    rows = sum(1 for line in body[:20_000].split("\n") if len(line) <= 400 and _TABLE_ROW.match(line))
    if rows >= 3:
        return "a table"
    return None


def _question_only(body: str) -> bool:
    """A short message that asks something back answers nothing."""
    return asks(body) and len(body.split()) < 40


def find_fulfilment(promise: Promise, later: MailMessage, me: Iterable[str] = ()) -> str | None:
    """Evidence that `later` keeps `promise`, or None.

    :param promise: an open promise.
    :param later: a message; only sent mail after the promise, within the
        window of its due date, to the people promised (or the person the
        promise names) can keep it (see the module docstring).
    :param me: the user's own addresses: mail only to them keeps nothing.
    :returns: a short evidence string naming what delivered the promise
        and the message, e.g. ``"attachment report.xls in <id@host>"``.
    """
    if later.role != "sent" or later.message_id == promise.message_id:
        return None
    if _utc(later.date) <= _utc(promise.made_at) or _too_late(promise, later):
        return None
    mine = {address.lower() for address in me}
    recipients = [a for a in later.recipients if a.email and a.email not in mine]
    if not recipients:
        return None
    parties = {address.lower() for address in promise.counterparties} - mine
    same_thread = bool(promise.thread_key) and later.thread_key == promise.thread_key
    in_thread = same_thread and any(a.email in parties for a in recipients)
    direct = len(parties) <= MAX_COUNTERPARTIES_OUTSIDE_THREAD and any(a.email in parties for a in later.to)
    names = name_tokens(promise.named_person)
    passing = bool(_PASSING.search(promise.action))
    # "I will forward it to Barry": only mail reaching Barry keeps it.
    if names and _CONTACT_NAMED.match(promise.action) and set(names) & recipient_tokens(later.to):
        return _wrote_to_named(promise, later, names[0], recipients)
    # "I will give you an update after the meeting with Ray" is to the reader:
    # the name is the meeting's, not the one to reach.
    targeted = passing and _names_target(promise, names) and not (
        promise.kind != "introduce" and _TO_THE_READER.match(promise.action)
    )
    to_named = targeted and bool(set(names) & recipient_tokens(later.to))
    if targeted:
        in_thread = direct = False
    if not (in_thread or direct or to_named):
        return None
    if len(recipients) > MASS_RECIPIENTS and len(parties) <= MASS_RECIPIENTS:
        return None

    body = later.body_text[:_MAX_BODY]
    where = f"in {later.message_id}"
    sentence = _normal(promise.sentence)
    if len(sentence) >= 20 and sentence in _normal(body):
        return None  # a copy of the promise, or the promise made again
    carries_thing = later.forwarded or later.has_attachment or bool(later.links) or later.calendar_invite
    met_them = promise.kind == "call-or-meet" and bool(_MET.search(body))
    # A short message is taken for an acknowledgement by its words ("... suit
    # us best"), unless it reports back or answers with figures.
    acknowledges = is_acknowledgement(body) and not (_REPORT.search(body) or _inline_answer(body))
    # "I will email you tomorrow to see when we can meet": writing to them is
    # the promised thing, whatever the subject (and a question is fine).
    contact_only = bool(_CONTACT_YOU.match(promise.action)) and not _CONTACT_WITH_OBJECT.match(promise.action)
    # Outside the thread, "I will e-mail you tomorrow" is kept near its day
    # (or on its matter): mail to them a week later on another matter is not it.
    contact_due = promise.due or _utc(promise.made_at).date()
    contact_prompt = _utc(later.date).date() <= contact_due + timedelta(days=CALL_GRACE_DAYS)
    if (
        contact_only
        and (in_thread or (direct and (contact_prompt or _shares_topic(promise, later))))
        and len(recipients) <= MAX_COUNTERPARTIES_OUTSIDE_THREAD
        and not (acknowledges or _DEFERRAL.search(body) or _CONTACT_AGAIN.search(body))
    ):
        return f"wrote to them {where}"
    if not carries_thing and not met_them and (acknowledges or _DEFERRAL.search(body) or _question_only(body)):
        return None
    if to_named and not in_thread:
        # A forward to Barry keeps "forward it to Barry" when it is about it:
        # its subject or text shares a word with the promise or its subject.
        about = _stems(f"{promise.action}\n{promise.subject}\n{_outside_domains(promise, mine)}")
        related = bool(about & _stems(f"{later.subject}\n{later.body_text[:20_000]}"))
    elif promise.kind == "call-or-meet" and _WITH_THEM.search(promise.sentence):
        # "Let's talk tomorrow", "I'll call you": wording that the call took
        # place, to the person, in the window, needs no topic; "I will meet
        # with Kim" is not kept by "Nice to see you" to someone else.
        due = promise.due or _utc(promise.made_at).date()
        prompt = _utc(later.date).date() <= due + timedelta(days=CALL_GRACE_DAYS)
        related = in_thread or (direct and (prompt or _shares_topic(promise, later)))
    else:
        related = in_thread or _shares_topic(promise, later)
    if not related:
        return None
    forwarding = bool(_FORWARDING.search(promise.action))
    deliverable = promise.kind == "deliver" or passing or bool(_RETURNS_IT.search(promise.sentence[:2_000]))
    whom = f" to {names[0].title()}" if to_named else ""

    if deliverable and not to_named and not _names_the_object(promise, later):
        deliverable = False
    # A forward delivers a promise to forward, one to the named person, or
    # "I will have that to you" when it does not name another thing.
    # A forward of other mail is not the thing the action names ("share these
    # items" is not kept by forwarding an earlier update).
    if later.forwarded and (
        (forwarding and _names_the_object(promise, later))
        or to_named
        or promise.kind == "deliver" and deliverable and not asks(body)
    ):
        return f"forward{whom} {where}"
    if later.calendar_invite and promise.kind in ("call-or-meet", "introduce"):
        return f"calendar invitation{whom} {where}"
    if deliverable and later.has_attachment:
        files = ", ".join(later.attachment_names[:3]) or "a file"
        return f"attachment {files}{whom} {where}"
    if deliverable and later.links and (not in_thread or _on_topic_in_thread(promise, later, vague_ok=False)):
        return f"link {later.links[0]}{whom} {where}"
    if carries_thing and (is_acknowledgement(body) or _DEFERRAL.search(body)):
        return None  # a file or link that is not what was promised
    promised = _AS_PROMISED.search(body)
    if promised:
        return f'"{_quote(promised)}" {where}'
    if to_named and promise.action.lower().startswith("ask") and asks(body):
        return f"asked {names[0].title()} {where}"
    if promise.kind == "introduce":
        introduced = _INTRODUCTION.search(f"{later.subject}\n{body}")
        return f'"{_quote(introduced)}" {where}' if introduced else None
    if promise.kind == "call-or-meet":
        met = _MET.search(body)
        return f'"{_quote(met)}" {where}' if met else None
    if deliverable:
        delivered = _DELIVERY.search(body)
        if delivered:
            return f'"{_quote(delivered)}" {where}'
    if _question_only(body) or not (in_thread or _same_subject(promise, later)):
        return None
    # A reply that answers inline, in the thread on the promise's topic (or
    # to a promise too vague to have one: "I will check this"), or to the
    # person under the promise's subject with words added ("Definitive re: UK Doorstep":
    # "Just heard from Buy - he is in agreement").
    if in_thread and not _on_topic_in_thread(promise, later, vague_ok=True):
        return None
    # Figures and tables count only in the thread: under a longer subject
    # they were other matters' numbers ("100% owned by ENA").
    answer = _inline_answer(body) if in_thread else None
    # Figures answer a promise to find something out; for a thing to send or
    # pass on ("I'll pass the book along to Jai") they must be about that
    # thing: a wine-tasting price in the thread is not the book.
    if answer and (not (passing or promise.kind == "deliver") or _names_the_object(promise, later)):
        return f"answer with {answer} {where}"
    reported = _REPORT.search(body)
    if reported:
        return f'answer "{_quote(reported)}" {where}'
    if promise.kind == "other":
        done = _DONE.search(body)
        if done:
            return f'"{_quote(done)}" {where}'
    return None
