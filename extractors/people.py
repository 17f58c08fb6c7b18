"""One person under several addresses: the alias map behind contacts and greetings.

Mail names people by address, and one person often writes from, or is
written to at, more than one: ``jeff.dasovich@enron.com`` and the older
``jdasovic@enron.com``, a work and a home address. Everything here is
derived from the display names and addresses of stored messages (no
guessing from first names alone); precision comes before recall, because
a wrong merge shows one person's promises under another's name.

Vocabulary:

name key
    ``(first, last)`` in lower case from a display name: "Jeff Dasovich",
    "Dasovich, Jeff", "DASOVICH, JEFF", "Jeff K. Dasovich" and "Dasovich,
    Jeff (Houston)" all give ``("jeff", "dasovich")``. A single word, an
    initial for a first name, an address or a role ("Legal Team") gives
    none.
shared address
    An address seen under two different name keys (a role mailbox, an
    assistant sending for several people). It is never merged.
compatible address
    One whose local part holds the start of the surname (``jdasovic``,
    ``pallen70``, ``k..allen``): a name typed in an address book next to
    somebody else's address does not merge two people.
merge
    Compatible, non-shared addresses with the same name key become one
    person when they share a domain (``ect.enron.com`` and ``enron.com``
    count as one), or when a display name was seen on each and they were
    written to together in one message (a work and a home address). An
    address that never carried a display name joins only through its own
    ``first.last@`` form, and only within its domain.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from kept.models import Address, MailMessage, Thread

__all__ = [
    "People",
    "address_name_key",
    "build_people",
    "build_people_from_parties",
    "build_people_from_party_counts",
    "canonical_threads",
    "first_name_from_address",
    "given_name",
    "name_key",
    "organisation",
    "outside_organisations",
    "own_organisations",
    "written_on_behalf",
]

#: Display names longer than this are not names.
MAX_NAME_CHARS = 120

_PARENTHESES = re.compile(r"\([^()]{0,80}\)")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "cfp", "cpa", "esq", "mba", "dr", "mr", "mrs", "ms"})
#: Words that make a display name a role, not a person.
_ROLE_WORDS = frozenset({
    "admin", "administrator", "alert", "alerts", "announcement", "announcements", "billing", "center", "conference",
    "committee", "credit", "customer", "department", "dept", "desk", "enron", "group", "help", "helpdesk", "hr",
    "info", "information", "legal", "list", "mail", "mailbox", "marketing", "news", "newsletter",
    "noreply", "notification", "notifications", "office", "operations", "payroll", "postmaster",
    "reception", "room", "sales", "service", "services", "staff", "subscriptions", "support", "system",
    "team", "update", "updates", "webmaster",
})
#: A second name key seen this many times on one address makes it shared.
SHARED_MIN_COUNT = 2


def _clean(name: str) -> str:
    return " ".join(name[:MAX_NAME_CHARS * 2].split()).strip("\"' ")


def _words(text: str) -> list[str] | None:
    """The name words of `text` without suffixes, or None when a word is not a name word."""
    words = []
    for token in text.replace(",", " ").split():
        token = token.strip(".")
        if not token:
            continue
        if not _NAME_WORD.fullmatch(token):
            return None
        if token.lower() in _SUFFIXES:
            continue
        words.append(token)
    return words


def _name_parts(name: str) -> tuple[list[str], str] | None:
    """(given names, surname) as written in `name`, or None when it is not a person's name."""
    text = _clean(name)
    if not text or len(text) > MAX_NAME_CHARS or "@" in text or "/" in text:
        return None
    text = _PARENTHESES.sub(" ", text)
    segments = text.split(",")
    # "Nachawati, Nabil, M": past the second, a segment may only be an initial or a suffix.
    for extra in segments[2:]:
        extra_words = _words(extra)
        if extra_words is None or any(len(word) > 2 for word in extra_words):
            return None
    if len(segments) > 1:
        head, tail = segments[0], " ".join(segments[1:])
        head_words, tail_words = _words(head), _words(tail)
        if head_words is None or tail_words is None:
            return None
        if not tail_words:  # "Robert W. Huntley, CFP": a suffix after the comma
            words = head_words
        elif 1 <= len(head_words) <= 2 and len(tail_words) <= 3:
            words = [*tail_words, head_words[-1]]  # "Van Hooser, Steve" -> Steve ... Hooser
        else:
            return None
    else:
        found = _words(text)
        if found is None:
            return None
        words = found
    if len(words) < 2 or len(words) > 4:
        return None
    if any(word.lower() in _ROLE_WORDS for word in words):
        return None
    given, last = words[:-1], words[-1]
    if len(given) > 1 and len(given[0]) == 1:
        given = given[1:]  # "P. Keith Daigle" goes by Keith
    if len(given[0]) < 2 or len(last) < 2:
        return None
    return given, last


def _split_name(name: str) -> tuple[str, str] | None:
    """(first, last) as written in `name`, or None when it is not a person's name."""
    parts = _name_parts(name)
    return (parts[0][0], parts[1]) if parts else None


def name_key(name: str) -> tuple[str, str] | None:
    """The name key (see the module docstring) of a display name, or None."""
    split = _split_name(name)
    return (split[0].lower(), split[1].lower()) if split else None


def _pretty(word: str) -> str:
    """ "PHILLIP" -> "Phillip"; mixed case stays as written ("McDaniel")."""
    return word.capitalize() if word.isupper() or word.islower() else word


def _address_words(address: str) -> list[str] | None:
    local, at, _domain = address.partition("@")
    if not at:
        return None
    tokens = re.split(r"[._]", local)
    if len(tokens) == 3 and len(tokens[1]) == 1:
        tokens = [tokens[0], tokens[2]]  # mery.l.brown
    if len(tokens) != 2 or not all(t.isalpha() and t.isascii() and len(t) >= 2 for t in tokens):
        return None
    if any(t in _ROLE_WORDS for t in tokens):
        return None
    return tokens


def address_name_key(address: str) -> tuple[str, str] | None:
    """``("jeff", "dasovich")`` for ``jeff.dasovich@...`` (and ``first.m.last@``), else None.

    Only this dotted form says where the first name ends; ``jdasovic@``
    does not, and gives None.
    """
    words = _address_words(address.lower())
    return (words[0], words[1]) if words else None


def given_name(name: str, address: str = "") -> str:
    """The first name in a display name, or '' when it holds none.

    "Phillip K Allen", "Allen, Phillip K." and "ALLEN, PHILLIP" give
    "Phillip"; a given name that `address` spells out wins ("Franklin, Mary
    Theresa" at ``theresa.franklin@`` is Theresa); a single capitalised word
    ("Anna") is taken as the first name; an address, a role ("Legal Team"),
    a lower-case word ("houston") or a bare initial gives ''.
    """
    parts = _name_parts(name)
    if parts is not None:
        given = parts[0]
        spelled = address_name_key(address) if address else None
        if spelled is not None:
            for word in given:
                if word.lower() == spelled[0]:
                    return _pretty(word)
        return _pretty(given[0])
    text = _clean(name)
    if "@" in text or "/" in text or "," in text:
        return ""
    words = _words(text)
    if words and len(words) == 1 and len(words[0]) >= 2 and not words[0].islower():
        if words[0].lower() not in _ROLE_WORDS:
            return _pretty(words[0])
    return ""


def first_name_from_address(address: str) -> str:
    """ "Phillip" for ``phillip.allen@enron.com``, '' when the address does not spell one out."""
    key = address_name_key(address)
    return key[0].capitalize() if key else ""


# What an assistant writes of the person whose mail she sends: "Sally asked
# me to ...", "Sally is out all day", "Sally would like ...". A verb that
# follows the name in lower case; "--Sally  Can I also ..." (the user's own
# sign-off before a new paragraph) does not match.
_OF_SOMEONE = (
    r"(?:asked|asks|wants|wanted|would|will|is|was|has|had|said|says|requested|needs|needed|"
    r"can|cannot|can't|won't|isn't|wasn't|called|mentioned|suggested|thought|thinks|feels|prefers|plans|"
    r"agreed|approved|forwarded|sent|left|returned|may|might|should|did|does|didn't|doesn't)\b"
)


def written_on_behalf(text: str, first_names: Iterable[str]) -> bool:
    """True if `text`, sent from the user's address, speaks of the user in the third person.

    Assistants send from their manager's address and write "Sally asked me
    to set up several meetings ... I will get back with you": the promises
    are the assistant's. People do not write of themselves by first name, so
    one such phrase is enough. The greeting line is skipped (writing to
    another Sally), and the name must be capitalised ("phillip says:" is a
    pasted chat log).
    """
    pattern = _third_person(tuple(sorted(first_names)))
    if pattern is None:
        return False
    body = text.split("\n", 1)[1] if "\n" in text else ""
    return pattern.search(body) is not None


@functools.lru_cache(maxsize=16)
def _third_person(first_names: tuple[str, ...]) -> re.Pattern[str] | None:
    """The pattern of `written_on_behalf` for these names, compiled once (it runs on every sent message)."""
    names = [name for name in first_names if len(name) >= 3 and name.isalpha()]
    if not names:
        return None
    return re.compile(
        r"(?<![-\w])(?:" + "|".join(re.escape(name.capitalize()) for name in names) + r")\s+" + _OF_SOMEONE
    )


def _letters(address: str) -> str:
    return "".join(c for c in address.partition("@")[0].lower() if c.isalpha())


def _compatible(address: str, key: tuple[str, str]) -> bool:
    """The local part holds the surname's start (six letters, or all of a shorter one)."""
    return key[1][:6] in _letters(address)


# Second-level labels under which the organisation is the third label from
# the end: ``bbc.co.uk``, ``unimelb.edu.au``.
_PUBLIC_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "gov", "net", "org", "or", "ne", "go"})

#: Free mail and consumer access providers: an address there says nothing
#: about where its owner works.
FREE_MAIL = frozenset({
    "aol.com", "att.net", "bellsouth.net", "comcast.net", "earthlink.net", "gmail.com", "gmx.de", "gmx.net",
    "googlemail.com", "hotmail.co.uk", "hotmail.com", "icloud.com", "juno.com", "live.com", "mac.com",
    "mail.com", "me.com", "msn.com", "outlook.com", "proton.me", "protonmail.com", "sbcglobal.net",
    "verizon.net", "web.de", "yahoo.co.uk", "yahoo.com", "yandex.ru", "ymail.com",
})


def organisation(address: str) -> str:
    """The organisation's part of the domain: ``ect.enron.com`` -> ``enron.com``, ``x.bbc.co.uk`` -> ``bbc.co.uk``."""
    labels = address.rpartition("@")[2].lower().strip(".[]").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _PUBLIC_SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def own_organisations(me: Iterable[str]) -> frozenset[str]:
    """The organisations of the user's addresses (`organisation`), free mail (`FREE_MAIL`) left out."""
    return frozenset(org for org in map(organisation, me) if org and org not in FREE_MAIL)


def outside_organisations(addresses: Iterable[str], organisations: frozenset[str]) -> bool:
    """True if none of `addresses` is at one of the user's `organisations` (`own_organisations`).

    With no organisations (a user on free mail only) everyone is outside.
    """
    return not any(organisation(address) in organisations for address in addresses)


@dataclass(frozen=True, slots=True)
class People:
    """Who is who: each address's person and each person's name.

    :ivar canonical: alias -> the address that stands for its person (only
        addresses merged with another; a canonical address maps to itself).
    :ivar names: address (canonical for merged people) -> display name,
        written "First Last".
    """

    canonical: Mapping[str, str] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)

    def of(self, address: str) -> str:
        """The address standing for `address`'s person (itself when not merged)."""
        return self.canonical.get(address, address)

    def name(self, address: str) -> str:
        """The person's display name, or '' when no message named them."""
        return self.names.get(self.of(address), "")

    def first_name(self, address: str) -> str:
        """The first name to greet them by: from a display name, else from a ``first.last@`` address, else ''."""
        return given_name(self.name(address), address) or first_name_from_address(address)

    def aliases(self, address: str) -> tuple[str, ...]:
        """Every address of `address`'s person, the canonical one first."""
        person = self.of(address)
        others = sorted(a for a, c in self.canonical.items() if c == person and a != person)
        return (person, *others)

    def label(self, address: str) -> str:
        """The display name, else the address."""
        return self.name(address) or address


def build_people(messages: Iterable[MailMessage], me: Iterable[str]) -> People:
    """The alias map and names from the display names and addresses of `messages`.

    The user's own addresses are left out. Pure: reads nothing else.
    """
    return build_people_from_parties(((m.from_addr, m.to, m.cc) for m in messages), me)


#: One message's From (None when unreadable), To and Cc.
MessageParties = tuple[Address | None, Sequence[Address], Sequence[Address]]


def build_people_from_parties(parties: Iterable[MessageParties], me: Iterable[str]) -> People:
    """`build_people` from each message's From, To and Cc alone (`kept.storage.base.Store.message_parties`)."""
    return build_people_from_party_counts(((entry, 1) for entry in parties), me)


def build_people_from_party_counts(counted: Iterable[tuple[MessageParties, int]], me: Iterable[str]) -> People:
    """`build_people` from each distinct From, To and Cc with the number of messages that have it.

    The same `People` as `build_people_from_parties` over the list with
    each entry repeated `count` times (`kept.storage.base.Store.party_counts`
    gives the counts): every tally is of messages, so an entry adds its
    count where a message adds one. Who was written to together is a set,
    which repetition does not change. Entries of equal parties may come
    more than once; their counts add up.
    """
    own = frozenset(a.lower() for a in me)
    keys: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    written: dict[str, Counter[str]] = defaultdict(Counter)
    seen: Counter[str] = Counter()
    together: set[tuple[str, str]] = set()
    # A display name is read once per spelling: a big mailbox repeats them.
    name_keys: dict[str, tuple[str, str] | None] = {}
    for (sender, to, cc), count in counted:
        if count <= 0:
            continue  # no message has these parties
        people = [a for a in (sender, *to, *cc) if a is not None and a.email]
        addresses = sorted({a.email for a in people if a.email not in own})
        for entry in people:
            if entry.email in own:
                continue
            seen[entry.email] += count
            key = name_keys[entry.name] if entry.name in name_keys else name_keys.setdefault(
                entry.name, name_key(entry.name)
            )
            if key is not None:
                keys[entry.email][key] += count
                written[entry.email][_clean(entry.name)] += count
        if 1 < len(addresses) <= 20:
            for i, a in enumerate(addresses):
                for b in addresses[i + 1:]:
                    together.add((a, b))

    person_key: dict[str, tuple[str, str]] = {}
    named: set[str] = set()
    for address in seen:
        counts = keys.get(address)
        if counts:
            (top, top_count), *rest = counts.most_common()
            if any(count >= SHARED_MIN_COUNT for _key, count in rest) or top_count < 0.8 * sum(counts.values()):
                continue  # a shared or role address: never merged, never named
            person_key[address] = top
            named.add(address)
        else:
            derived = address_name_key(address)
            if derived is not None:
                person_key[address] = derived

    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for address, key in person_key.items():
        if "@" in address and _compatible(address, key):
            groups[key].append(address)

    middles = {address: _middle_initials(address, written.get(address, Counter())) for address in person_key}
    canonical: dict[str, str] = {}
    for members in groups.values():
        for component in _components(members, named, together, middles):
            if len(component) < 2:
                continue
            head = min(component, key=lambda a: (-seen[a], a))
            for address in component:
                canonical[address] = head

    names: dict[str, str] = {}
    by_person: dict[str, Counter[str]] = defaultdict(Counter)
    for address in named:
        by_person[canonical.get(address, address)].update(written[address])
    for person, spellings in by_person.items():
        raw = min(spellings.items(), key=lambda item: (-item[1], item[0]))[0]
        parts = _name_parts(raw)
        if parts is None:
            continue
        given, last = parts
        # "Allen, Phillip K." and "ALLEN, PHILLIP" read as "Phillip Allen"
        # (a middle initial without its dot reads as a typo).
        as_written = "," not in raw and not raw.isupper()
        words = (given[0], *(word for word in given[1:] if len(word) > 1), last)
        names[person] = raw if as_written else " ".join(_pretty(word) for word in words)
    return People(canonical=canonical, names=names)


def _middle_initials(address: str, spellings: Counter[str]) -> set[str]:
    """Middle initials the address's names or its local part spell ("Gossett, Jeffrey C.", ``c..gossett@``)."""
    found = set()
    for spelling in spellings:
        parts = _name_parts(spelling)
        if parts is not None and len(parts[0]) > 1:
            found.add(parts[0][1][0].lower())
    local = address.partition("@")[0].lower()
    enron_form = re.fullmatch(r"([a-z])\.\.[a-z]+", local)  # Enron's "c..gossett"
    dotted = re.fullmatch(r"[a-z]+[._]([a-z])[._][a-z]+", local)  # "jeffrey.c.gossett"
    for match in (enron_form, dotted):
        if match:
            found.add(match.group(1))
    return found


def _components(
    members: list[str], named: set[str], together: set[tuple[str, str]], middles: Mapping[str, set[str]]
) -> list[list[str]]:
    """Split one name key's addresses into people (see "merge" in the module docstring).

    Two namesakes in one organisation are often told apart by a middle
    initial ("robert.c.williams" and "robert.w.williams"): a person whose
    addresses spell two different middle initials is not merged at all.
    """
    parent = {a: a for a in members}

    def find(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, a in enumerate(members):
        for b in members[i + 1:]:
            if a not in named and b not in named:
                continue  # two unnamed first.last@ addresses: nothing says they are one person
            same_org = organisation(a) == organisation(b)
            if same_org or (a in named and b in named and (min(a, b), max(a, b)) in together):
                parent[find(a)] = find(b)
    found: dict[str, list[str]] = defaultdict(list)
    for a in members:
        found[find(a)].append(a)
    people: list[list[str]] = []
    for component in found.values():
        spelled = [middles.get(a, set()) for a in component]
        if any(x and y and not x & y for i, x in enumerate(spelled) for y in spelled[i + 1:]):
            people.extend([a] for a in component)
        else:
            people.append(component)
    return people


def canonical_threads(threads: Iterable[Thread], people: People) -> list[Thread]:
    """`threads` with every address replaced by its person's canonical address.

    Rhythm, reply times and "waiting on" then count a person once, whichever
    of their addresses a message used.
    """
    if not people.canonical:
        return list(threads)

    def mapped(addresses: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(people.of(a) for a in addresses))

    out = []
    for thread in threads:
        messages = tuple(
            replace(item, sender=people.of(item.sender), to=mapped(item.to), cc=mapped(item.cc))
            for item in thread.messages
        )
        out.append(replace(thread, messages=messages))
    return out
