#!/usr/bin/env python3
"""Write the sample Maildir that ``make demo`` scans.

The mailbox belongs to Sam Rivera, an independent consultant, and covers
2026-09-01 .. 2026-11-19. The demo replays it at a fixed clock,
2026-11-20 07:30 Europe/Berlin, so every "overdue", "due soon" and "waiting
for a week" in the demo is fixed by the data below.

All people, companies and addresses are invented; every domain ends in
``.example``. The mail is declared as data (`MAILS`) and written
deterministically: fixed file names, fixed MIME boundaries, file mtimes equal
to the message dates and no randomness, so two runs give byte-identical
files. Each message lists the demo *cases* it shows (see `CASES`);
``examples/README.md`` is the human-readable map of them.

Usage::

    python examples/make_sample_mailbox.py            # (re)write examples/sample-maildir
    python examples/make_sample_mailbox.py --check    # parse it back and count cases
    python examples/make_sample_mailbox.py --manifest # one JSON line per message

Only the standard library is used, so the script runs before kept is installed.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import logging
import os
import shutil
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parsedate_to_datetime
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "sample-maildir"

# The clock the demo runs at, and the zone every time in `MAILS` is written in.
DEMO_NOW = datetime(2026, 11, 20, 7, 30, tzinfo=ZoneInfo("Europe/Berlin"))
LOCAL_ZONE = ZoneInfo("Europe/Berlin")
FIRST_DAY = datetime(2026, 9, 1, tzinfo=LOCAL_ZONE)

SENT_FOLDER = ".Sent"
INBOX_FOLDER = ""  # Maildir++: the top folder is the inbox
HOSTNAME = "rivera-laptop"

# What each case label means; --check fails if a case has no message.
CASES: dict[str, str] = {
    "open-overdue-by-friday": "Sam's promise with a named day that has passed (article on pricing by Friday)",
    "open-next-week": "Sam's promise due 'next week', now overdue (call with the numbers)",
    "open-undated-old": "Sam's promise with no date, older than two weeks (lunch)",
    "open-due-soon": "Sam's promise due within two days of the demo date (revised budget by Saturday)",
    "open-softened": "Sam's hedged promise ('I'll try to get the draft to you by Monday')",
    "kept-by-attachment": "promise kept by a later message with an attachment (slides)",
    "kept-by-reply": "promise kept by a later reply in the same thread (check with the team)",
    "keeps-promise": "the message that keeps an earlier promise",
    "non-promise": "sentence by Sam that looks like a promise but is not one",
    "waiting-on-sam": "received, Sam in To, no reply from Sam, 1 day to 2 weeks old",
    "waiting-on-sam-question": "a waiting-on-Sam message that asks Sam a direct question",
    "cc-only": "Sam only in Cc: not waiting on Sam by default",
    "closing-ack": "thank-you / acknowledgement that needs no reply",
    "automated": "machine-sent mail that must never count as waiting on Sam",
    "newsletter": "mailing-list mail with List-Unsubscribe",
    "html-only-script": "HTML-only message carrying a <script>",
    "auto-reply": "out-of-office auto-reply (does not answer Sam's question)",
    "noreply": "notification from a noreply address",
    "sam-waiting": "Sam's question or request with no answer after 4+ days",
    "reply-lag-fast": "reply pair where Sam answers within hours (Anna, Elena)",
    "reply-lag-slow": "reply pair where Sam answers within one or two days (Ben)",
    "nudge-introduction": "Sam introduced two people, no mail to either since",
    "nudge-rhythm": "contact with a ~10-day rhythm, silent for 7 weeks",
    "nudge-lead-no-thanks": "someone passed Sam a lead, Sam never thanked them",
    "threaded-by-headers": "reply with In-Reply-To/References",
    "threaded-by-subject": "reply with no In-Reply-To/References (subject threading)",
    "outlook-quote": "reply quoting an '-----Original Message-----' block",
    "attachment": "message with a file attached",
    "calendar-invite": "meeting request with a text/calendar part",
    "iso-8859-1": "message encoded in ISO-8859-1",
    "broken-charset": "message whose charset declaration names no real charset",
    "alias": "Sam writing from or receiving at sam.rivera@fastmail.example",
    "multipart-alternative": "text and HTML versions of the same body",
    "unread-new": "file in new/ (not yet seen by a mail client)",
    "history-old-promise": "Sam's open promise from September: history (older than lookback_days), not a digest item",
    "newsletter-no-list-headers": "a promotion from a person-like sender with no List headers, only an unsubscribe line",
    "kept-by-inline-answer": "promise kept by the figures themselves, answered in the thread hours later",
    "kept-by-forward": "'I shall forward your message to Hugo' kept by the forward to Hugo a minute later",
    "not-kept-forward-to-self": "forwarding the thread to Sam's own other address keeps nothing",
    "not-kept-by-ack": "a 'Cool.' from Sam in the thread keeps nothing",
    "due-explicit-date": "'Let's meet on Monday at 4:00 p.m., November 30th': the date, not the next Monday",
}


@dataclass(frozen=True)
class Person:
    """Someone in the mailbox.

    :ivar name: display name.
    :ivar email: address.
    :ivar zone: the zone their mail client stamps Date headers in.
    :ivar signature: appended to their fresh text ("" for none).
    :ivar quote_style: how their client quotes: ``gmail``, ``apple`` or ``outlook``.
    :ivar reply_prefix: subject prefix their client adds on replies.
    """

    name: str
    email: str
    zone: str = "Europe/Berlin"
    signature: str = ""
    quote_style: str = "gmail"
    reply_prefix: str = "Re: "

    @property
    def header(self) -> str:
        return formataddr((self.name, self.email))


SAM_SIGNATURE = """\
--\x20
Sam Rivera
Rivera Consulting · pricing & strategy for small teams
Leipzig · +49 341 555 0142 · https://rivera-consulting.example"""

PEOPLE: dict[str, Person] = {
    "sam": Person("Sam Rivera", "sam@rivera-consulting.example", signature=SAM_SIGNATURE),
    # Sam's personal address, used from the laptop at home.
    "sam-alias": Person("Sam Rivera", "sam.rivera@fastmail.example", signature="Sam", quote_style="apple"),
    "anna": Person(
        "Anna Keller", "anna.keller@northwind-labs.example", "Europe/Zurich",
        "Anna Keller\nHead of People · Northwind Labs\nZürich",
    ),
    "grace": Person(
        "Grace Liu", "grace.liu@northwind-labs.example", "Europe/Zurich",
        "Grace Liu\nPeople Operations · Northwind Labs",
    ),
    "ethan": Person("Ethan Moore", "ethan.moore@northwind-labs.example", "Europe/Zurich"),
    "ben": Person(
        "Ben Okafor", "ben@okafor-design.example", "Europe/London",
        "--\x20\nBen Okafor · Okafor Design\nhttps://okafor-design.example",
    ),
    "dana": Person("Dana Whitfield", "dana.whitfield@brightpath.example", "Europe/Amsterdam", "Dana"),
    "marcus": Person(
        "Marcus Lindqvist", "marcus@lindqvist-capital.example", "Europe/Stockholm",
        "Marcus Lindqvist\nPartner, Lindqvist Capital", quote_style="apple",
    ),
    "priya": Person(
        "Priya Nair", "priya.nair@helix-health.example", "Asia/Kolkata",
        "Priya Nair | Product Lead, Helix Health",
    ),
    "tom": Person("Tom Becker", "tom.becker@altbau-studio.example", "Europe/Berlin", "Tom"),
    "olivia": Person(
        "Olivia Grant", "olivia@grant-partners.example", "Europe/London",
        "Olivia Grant\nManaging Director | Grant & Partners\n+44 20 7946 0321",
        quote_style="outlook", reply_prefix="RE: ",
    ),
    "lena": Person(
        "Lena Vogel", "lena.vogel@mittelstand-monthly.example", "Europe/Berlin",
        "Lena Vogel\nRedaktion · Mittelstand Monthly",
    ),
    "rafael": Person(
        "Rafael Ortiz", "rafael.ortiz@ortiz-logistics.example", "Europe/Berlin",
        "Rafael Ortiz\nHead of Operations\nOrtiz Logistics GmbH | Berlin",
        quote_style="outlook", reply_prefix="RE: ",
    ),
    "juergen": Person(
        "Jürgen Hoffmann", "j.hoffmann@hoffmann-moebel.example", "Europe/Berlin",
        "Mit freundlichen Grüßen\nJürgen Hoffmann\nGeschäftsführer, Hoffmann Möbel GmbH, Köln",
        quote_style="outlook", reply_prefix="AW: ",
    ),
    "kenji": Person(
        "Kenji Watanabe", "kenji@watanabe-ceramics.example", "Asia/Tokyo",
        "Kenji Watanabe\nWatanabe Ceramics Studio",
    ),
    "isabel": Person(
        "Isabel Costa", "isabel.costa@marea-hotels.example", "Europe/Lisbon",
        "Isabel Costa\nEvents Manager · Marea Hotels",
    ),
    "hugo": Person(
        "Hugo Marchetti", "hugo@marchetti-legal.example", "Europe/Rome",
        "Avv. Hugo Marchetti\nMarchetti Legal", quote_style="outlook", reply_prefix="R: ",
    ),
    "nadia": Person(
        "Nadia Rahman", "nadia@rahman-analytics.example", "America/Toronto",
        "Nadia Rahman, Rahman Analytics",
    ),
    "felix": Person(
        "Felix Brandt", "felix.brandt@brandt-ventures.example", "Europe/Berlin",
        "Felix\n\nBrandt Ventures · https://brandt-ventures.example",
    ),
    "hannah": Person(
        "Hannah Schulz", "hannah.schulz@stadtwerk-media.example", "Europe/Berlin",
        "Hannah Schulz\nCOO · Stadtwerk Media",
    ),
    "jonas": Person(
        "Jonas Weber", "jonas@kiez-kaffee.example", "Europe/Berlin",
        "Jonas\nKiez Kaffee · Leipzig",
    ),
    "lukas": Person(
        "Lukas Brandl", "lukas@brandl-bikes.example", "Europe/Vienna",
        "Lukas Brandl\nBrandl Bikes · Graz",
    ),
    "rosa": Person("Rosa Lindner", "rosa@lindner-druck.example", "Europe/Berlin", "Rosa\nLindner Druck"),
    "clara": Person(
        "Clara Jung", "clara.jung@jung-events.example", "Europe/Berlin",
        "Clara Jung\nJung Events · Dresden",
    ),
    "maja": Person("Maja from Nordic SaaS Day", "maja@nordicsaasday.example", "Europe/Copenhagen"),
    "elena": Person(
        "Elena Petrova", "elena@petrova-research.example", "Europe/Vienna",
        "Elena\n\nPetrova Research · Vienna", quote_style="apple",
    ),
    "ledger": Person("The Consultant's Ledger", "letters@consultantsledger.example", "America/New_York"),
    "growth": Person("Growth Signals", "news@growthsignals.example", "America/Los_Angeles"),
    "ledgerly": Person("Ledgerly", "noreply@ledgerly.example", "Europe/Dublin"),
}

# Sam's own addresses: mail from these goes to .Sent.
SAM_KEYS = ("sam", "sam-alias")


@dataclass(frozen=True)
class Mail:
    """One message of the sample mailbox.

    :ivar key: short stable name; it makes the Message-ID and the file name.
    :ivar when: local time in Europe/Berlin, ``"YYYY-MM-DD HH:MM"``.
    :ivar sender: key into `PEOPLE`.
    :ivar to: keys into `PEOPLE`.
    :ivar body: the fresh text (dedented); the sender's signature and, for
        replies, the quoted parent are added when the message is built.
    :ivar subject: subject; None for a reply (parent's subject with the
        sender's reply prefix).
    :ivar parent: key of the message this one replies to; its text is quoted.
    :ivar thread_headers: give a reply In-Reply-To/References; False leaves
        the reply to subject threading.
    :ivar quote: quote the parent below the fresh text.
    :ivar kind: how to build it: ``text``, ``alternative``, ``attachment``,
        ``calendar``, ``iso-8859-1``, ``broken-charset``, ``newsletter``,
        ``html-newsletter``, ``noreply``, ``auto-reply``.
    :ivar cc: Cc keys.
    :ivar cases: demo cases this message shows (keys of `CASES`).
    :ivar unread: deliver into new/ instead of cur/.
    :ivar replied: Sam answered it (the R flag in the file name).
    """

    key: str
    when: str
    sender: str
    to: tuple[str, ...]
    body: str
    subject: str | None = None
    parent: str | None = None
    thread_headers: bool = True
    quote: bool = True
    kind: str = "text"
    cc: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    unread: bool = False
    replied: bool = False

    @property
    def date(self) -> datetime:
        return datetime.strptime(self.when, "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL_ZONE)

    @property
    def is_sent(self) -> bool:
        return self.sender in SAM_KEYS


# ---------------------------------------------------------------------------
# The mail. Times are Europe/Berlin; weekdays are noted where a relative date
# ("by Friday", "next week") depends on them. 2026-11-20 is a Friday.
# ---------------------------------------------------------------------------

MAILS: tuple[Mail, ...] = (
    # --- Elena: a steady ~10-day rhythm in September, silent since Oct 2 ---
    Mail("elena-notes-4", "2026-09-01 08:40", "elena", ("sam",), subject="Field notes from the pricing study", body="""
        Hi Sam,

        Notes #4. Four more interviews done this week. The pattern holds: the agencies
        that quote a fixed price per outcome are booked out, the ones that
        quote day rates are discounting. One founder said "nobody has ever
        asked me what a day of mine is worth, they ask what the website is
        worth".

        Does that match what you see with your clients?
        """, cases=("nudge-rhythm",), replied=True),
    Mail("elena-notes-4-re", "2026-09-01 20:10", "sam-alias", ("elena",), parent="elena-notes-4", body="""
        Hi Elena,

        It matches almost word for word. The clients who moved to outcome
        pricing this year all say the same thing: the conversation shifted
        from cost to risk. That quote is going straight into my workshop.
        """, cases=("nudge-rhythm", "reply-lag-fast", "alias", "threaded-by-headers")),
    Mail("elena-notes-5", "2026-09-10 09:05", "elena", ("sam",), parent="elena-notes-4-re", quote=False, body="""
        Hi Sam,

        Notes #5. This round was about discounts. Eight of eleven people give a
        discount when the client asks twice, no matter what the project is.
        Only two have a written rule for it.

        Have you ever helped a client write such a rule?
        """, cases=("nudge-rhythm", "threaded-by-headers"), replied=True),
    Mail("elena-notes-5-re", "2026-09-11 08:30", "sam", ("elena",), parent="elena-notes-5", thread_headers=False, body="""
        Morning Elena,

        Yes, twice. The short version: a discount is only allowed in exchange
        for something (a longer term, a case study, payment up front). Both
        clients said the rule mattered less than having to say it out loud.
        """, cases=("nudge-rhythm", "reply-lag-fast", "threaded-by-subject")),
    Mail("elena-notes-6", "2026-09-21 08:50", "elena", ("sam",), parent="elena-notes-5-re", thread_headers=False, quote=False, body="""
        Hi Sam,

        Notes #6, retainers this time. The surprise: most people hate them after the
        first year because the scope drifts and the price does not.

        How do you keep a retainer from drifting?
        """, cases=("nudge-rhythm", "threaded-by-subject"), replied=True),
    Mail("elena-notes-6-re", "2026-09-21 13:15", "sam", ("elena",), parent="elena-notes-6", body="""
        Hi Elena,

        A quarterly review with a one-page scope list. Anything not on the
        list is a new project. It sounds bureaucratic, but clients like
        knowing what they get.
        """, cases=("nudge-rhythm", "reply-lag-fast", "threaded-by-headers")),
    Mail("elena-notes-7", "2026-10-01 08:10", "elena", ("sam",), parent="elena-notes-6-re", quote=False, body="""
        Hi Sam,

        Notes #7 and the last batch of interviews is in, 42 in total. I am writing the report
        over the next weeks, so the notes will pause for a while.

        Would you mind if I quoted your retainer rule (anonymously)?
        """, cases=("nudge-rhythm", "threaded-by-headers"), replied=True),
    Mail("elena-notes-7-re", "2026-10-01 19:40", "sam-alias", ("elena",), parent="elena-notes-7", body="""
        Hi Elena,

        Not at all, quote away. Good luck with the writing!
        """, cases=("nudge-rhythm", "reply-lag-fast", "alias", "threaded-by-headers")),

    # --- Anna (Northwind Labs): Sam answers within a few hours ---
    Mail("anna-agenda", "2026-09-03 09:12", "anna", ("sam",), subject="Onboarding workshop – agenda?", body="""
        Hi Sam,

        Could you send me a draft agenda for the onboarding workshop on the
        24th? I'd like to share it with the team leads this week.

        Thanks!
        """, cases=("reply-lag-fast",), replied=True),
    Mail("anna-agenda-re", "2026-09-03 11:40", "sam", ("anna",), parent="anna-agenda", body="""
        Hi Anna,

        Here is a first draft:

        09:30  Why pricing is a people topic
        10:15  Exercise: what does a customer really buy?
        11:30  Break
        11:45  Pricing exercise in teams
        13:15  Lunch and wrap-up

        If you need anything, I'll be happy to help.

        Best,
        Sam
        """, cases=("reply-lag-fast", "non-promise", "threaded-by-headers")),
    Mail("anna-agenda-2", "2026-09-03 12:05", "anna", ("sam",), parent="anna-agenda-re", body="""
        Looks great. Is 90 minutes enough for the pricing exercise, or should
        we cut the break short?
        """, replied=True, cases=("threaded-by-headers",)),
    Mail("anna-agenda-2-re", "2026-09-03 14:20", "sam", ("anna",), parent="anna-agenda-2", body="""
        90 minutes is tight but doable if the teams get the worksheet the day
        before. Keep the break: the exercise goes better after it.
        """, cases=("reply-lag-fast", "threaded-by-headers")),
    Mail("anna-invoice", "2026-10-06 08:30", "anna", ("sam",), subject="September invoice", body="""
        Hi Sam,

        Quick one: could you send over the invoice for September? Finance
        can't find it.
        """, cases=("reply-lag-fast",), replied=True),
    Mail("anna-invoice-re", "2026-10-06 10:15", "sam", ("anna",), parent="anna-invoice", thread_headers=False, body="""
        Hi Anna,

        I sent the invoice yesterday. It went to accounts@northwind-labs.example
        as usual, number RC-2026-037.

        Sam
        """, cases=("reply-lag-fast", "non-promise", "threaded-by-subject")),
    Mail("anna-invoice-ack", "2026-10-06 10:40", "anna", ("sam",), parent="anna-invoice-re", thread_headers=False, body="""
        Found it, it was sitting in the shared inbox. Thanks!
        """, cases=("closing-ack", "threaded-by-subject")),
    Mail("anna-survey", "2026-10-21 16:02", "anna", ("sam",), subject="Team survey results", body="""
        Hi Sam,

        The survey is in: 62% of the team leads feel confident quoting a
        price, up from 35% before the workshop.

        Do you want to go through it on our call on Friday, or should I send
        a summary first?
        """, cases=("reply-lag-fast",), replied=True),
    Mail("anna-survey-re", "2026-10-21 17:30", "sam", ("anna",), parent="anna-survey", body="""
        That's a big jump, congratulations to the team!

        The call on Friday is the better place for it; the raw numbers are
        more useful than a summary.
        """, cases=("reply-lag-fast", "threaded-by-headers")),
    Mail("anna-survey-ack", "2026-10-22 08:45", "anna", ("sam",), parent="anna-survey-re", body="""
        Great, see you Friday.
        """, cases=("closing-ack", "threaded-by-headers")),

    # --- Ben (Okafor Design): Sam answers within a day or two ---
    Mail("ben-mockups", "2026-09-08 10:30", "ben", ("sam",), subject="Brand refresh – first mockups", body="""
        Hi Sam,

        The first mockups are up: https://share.okafor-design.example/rivera/v1

        Does the darker palette work for your audience? I went a bit bolder
        than we discussed.
        """, cases=("reply-lag-slow",), replied=True),
    Mail("ben-mockups-re", "2026-09-09 18:00", "sam", ("ben",), parent="ben-mockups", body="""
        Hi Ben,

        Thanks, these look great. I think it will work. The darker palette
        feels more like a consultancy and less like a startup, which is the
        point.

        One small thing: the tagline wraps onto three lines on a phone.

        Sam
        """, cases=("reply-lag-slow", "non-promise", "threaded-by-headers")),
    Mail("ben-mockups-2", "2026-09-15 14:00", "ben", ("sam",), parent="ben-mockups-re", body="""
        v2 with the shorter tagline: https://share.okafor-design.example/rivera/v2

        Which of the two logo weights do you prefer, regular or medium?
        And is the orange accent too loud?
        """, cases=("reply-lag-slow", "threaded-by-headers"), replied=True),
    # An inline reply: Sam answers between Ben's quoted questions.
    Mail("ben-mockups-2-re", "2026-09-16 17:45", "sam", ("ben",), parent="ben-mockups-2", quote=False, body="""
        Hi Ben,

        > Which of the two logo weights do you prefer, regular or medium?

        Medium. Regular disappears on the slides.

        > And is the orange accent too loud?

        A little. Could it be one step darker?

        Sam
        """, cases=("reply-lag-slow", "threaded-by-headers")),
    Mail("ben-mockups-3", "2026-09-17 12:20", "ben", ("sam",), parent="ben-mockups-2-re", body="""
        Done: v3 with the medium logo and the darker orange is up at
        https://share.okafor-design.example/rivera/v3 together with the final
        files.
        """, cases=("closing-ack", "threaded-by-headers")),
    Mail("ben-illustrations", "2026-10-12 11:00", "ben", ("sam",), subject="Workshop illustrations", body="""
        Hi Sam,

        For the workshop illustrations we talked about: could you give me a
        budget range? That decides whether I draw them or license a set.
        """, cases=("reply-lag-slow",), replied=True),
    Mail("ben-illustrations-re", "2026-10-14 09:30", "sam", ("ben",), parent="ben-illustrations", body="""
        Hi Ben,

        Sorry for the slow reply, Monday and Tuesday were all workshop. The
        range is 800 to 1,200 EUR for a set of six, and I'd much rather have
        them drawn by you.
        """, cases=("reply-lag-slow", "threaded-by-headers")),
    Mail("ben-illustrations-ack", "2026-10-14 10:10", "ben", ("sam",), parent="ben-illustrations-re", body="""
        Perfect, that works. Thanks!
        """, cases=("closing-ack", "threaded-by-headers")),

    # --- Dana: "I'll send you the slides tomorrow", kept by an attachment ---
    Mail("dana-slides-ask", "2026-10-13 10:00", "dana", ("sam",), subject="Your talk at the Leipzig pricing meetup", body="""
        Hi Sam,

        Thank you for the talk last night, it was the most useful hour of my
        month. Could you share the slides? My team missed it.
        """, replied=True),
    Mail("dana-slides-promise", "2026-10-13 19:30", "sam", ("dana",), parent="dana-slides-ask", body="""
        Hi Dana,

        Thank you, glad it was useful! I'll send you the slides tomorrow; two
        client names need to come out first.

        Sam
        """, cases=("kept-by-attachment", "threaded-by-headers")),
    # A new message, not a reply: the promise is kept outside the thread.
    Mail("dana-slides-sent", "2026-10-14 16:10", "sam", ("dana",), subject="Slides: pricing for small teams", kind="attachment", body="""
        Hi Dana,

        As promised, here are the slides from Monday, client names removed.

        Let me know if you have any questions.

        Sam
        """, cases=("keeps-promise", "attachment", "non-promise")),
    Mail("dana-slides-ack", "2026-10-15 09:20", "dana", ("sam",), parent="dana-slides-sent", body="""
        Got them, thank you! Already shared with the team.
        """, cases=("closing-ack", "threaded-by-headers")),

    # --- Rafael: "Let me check with the team and get back to you", kept by a reply ---
    Mail("rafael-capacity", "2026-10-29 10:04", "rafael", ("sam",), subject="Q1 capacity", kind="alternative", cases=("multipart-alternative",), body="""
        Hello Sam,

        Do you have capacity for the warehouse pricing project in Q1? We would
        need roughly six days between January and February.

        Best regards
        """, replied=True),
    Mail("rafael-capacity-check", "2026-10-29 11:30", "sam", ("rafael",), parent="rafael-capacity", body="""
        Hi Rafael,

        Thanks for thinking of us. Let me check with the team and get back to
        you.

        Sam
        """, cases=("kept-by-reply", "threaded-by-headers")),
    Mail("rafael-capacity-answer", "2026-11-02 16:45", "sam", ("rafael",), parent="rafael-capacity-check", body="""
        Hi Rafael,

        I checked with the team: we can do six days between January 11 and
        February 19. The weeks of January 11 and February 8 suit us best.

        Sam
        """, cases=("keeps-promise", "threaded-by-headers")),
    Mail("rafael-capacity-2", "2026-11-03 09:12", "rafael", ("sam",), parent="rafael-capacity-answer", body="""
        Hello Sam,

        Great news, both weeks work for us. Would you prefer to sign the
        agreement in person or by e-signature?
        """, cases=("outlook-quote", "threaded-by-headers"), replied=True),
    Mail("rafael-capacity-2-re", "2026-11-04 10:00", "sam", ("rafael",), parent="rafael-capacity-2", body="""
        Hi Rafael,

        E-signature is easiest for me. I'll be in Berlin on Monday, so signing
        in person is possible as well.

        Sam
        """, cases=("non-promise", "threaded-by-headers")),

    # --- Olivia: calendar invite, "John will send you the contract", due soon ---
    Mail("olivia-invite", "2026-10-19 15:00", "olivia", ("sam",), kind="calendar",
         subject="Invitation: Strategy sprint kickoff @ Fri 23 Oct 2026 10:00 - 11:30 (BST)", body="""
        Hi Sam,

        Here is the invite for the kickoff. We will use the large meeting
        room on the 4th floor; coffee is on us.
        """, cases=("calendar-invite",), replied=True),
    Mail("olivia-invite-re", "2026-10-19 16:20", "sam", ("olivia",), parent="olivia-invite", body="""
        Hi Olivia,

        Accepted, see you on Friday. John Adler handles my paperwork these
        days: John will send you the contract.

        Sam
        """, cases=("non-promise", "threaded-by-headers")),
    Mail("olivia-budget", "2026-11-17 10:30", "olivia", ("sam",), subject="Revised budget for the board", kind="alternative", cases=("multipart-alternative",), body="""
        Hi Sam,

        The board meets on Monday. Could you send the revised budget before
        then? The version with the reduced workshop count is fine.
        """, replied=True),
    Mail("olivia-budget-re", "2026-11-18 08:50", "sam", ("olivia",), parent="olivia-budget", body="""
        Hi Olivia,

        Yes, of course. I'll send you the revised budget by Saturday, so you
        have Sunday to look it over.

        Sam
        """, cases=("open-due-soon", "threaded-by-headers")),

    # --- Open promises ---
    Mail("marcus-article", "2026-11-05 14:30", "marcus", ("sam",), subject="Great meeting you at Nordic SaaS Day", body="""
        Hi Sam,

        Great meeting you in Stockholm. You mentioned an article on
        value-based pricing; I'd love to read it whenever it is ready.
        """, replied=True),
    # Monday 9 Nov: "by Friday" is 13 Nov, a week overdue on the demo date.
    Mail("marcus-article-re", "2026-11-09 09:20", "sam", ("marcus",), parent="marcus-article", body="""
        Hi Marcus,

        Great meeting you too. I'll send you the article on pricing by
        Friday. It needs one more pass before it is fit for other eyes.

        Sam
        """, cases=("open-overdue-by-friday", "threaded-by-headers")),
    Mail("priya-review", "2026-10-26 07:15", "priya", ("sam",), subject="Helix dashboard review", body="""
        Hi Sam,

        We are reviewing the pricing dashboard with the board on Thursday.
        Can you join, and do you have the updated retention numbers?
        """, replied=True),
    # Tuesday 27 Oct: "next week" is 2-6 Nov, overdue on the demo date.
    Mail("priya-review-re", "2026-10-27 09:40", "sam", ("priya",), parent="priya-review", body="""
        Hi Priya,

        I won't be able to make it Thursday, I'm running a workshop in Dresden
        all day. I'll call you next week with the numbers; the October cohort
        only closes on Friday.

        Sam
        """, cases=("open-next-week", "non-promise", "threaded-by-headers")),
    Mail("priya-review-ack", "2026-10-27 12:05", "priya", ("sam",), parent="priya-review-re", body="""
        No problem, thanks for the heads-up. Talk next week.
        """, cases=("closing-ack", "threaded-by-headers")),
    Mail("tom-hello", "2026-10-27 21:10", "tom", ("sam-alias",), subject="Long time no see", body="""
        Hey Sam,

        Saw your post about leaving agency life behind, congrats! How is
        freelancing treating you?
        """, cases=("alias",), replied=True),
    Mail("tom-hello-re", "2026-10-28 08:05", "sam-alias", ("tom",), parent="tom-hello", body="""
        Tom! So good to hear from you.

        Freelancing is treating me well: fewer meetings, more actual work,
        and nobody asks me for a status deck. We need to have lunch together
        soon. Say hi to Mira!
        """, cases=("open-undated-old", "alias", "threaded-by-headers")),
    Mail("lena-article", "2026-11-12 11:00", "lena", ("sam",), subject="Guest article for the December issue", body="""
        Hi Sam,

        How is the guest article coming along? We close the December issue
        on the 1st.
        """, replied=True),
    # Tuesday 17 Nov: "by Monday" is 23 Nov.
    Mail("lena-article-re", "2026-11-17 18:40", "sam", ("lena",), parent="lena-article", body="""
        Hi Lena,

        It's coming along: the outline is done and about half of the text.
        I'll try to get the draft to you by Monday.

        Sam
        """, cases=("open-softened", "threaded-by-headers")),

    # --- Introduction: Anna meets Ben; no mail to or from either since ---
    Mail("intro-anna-ben", "2026-11-10 11:20", "sam", ("anna", "ben"), subject="Intro: Anna (Northwind Labs) <> Ben (Okafor Design)", body="""
        Anna, meet Ben — I'd like to introduce you to Ben Okafor, the designer
        behind my new brand. Anna is looking for someone to illustrate
        Northwind's onboarding guide, and Ben drew the illustrations for my
        workshops.

        Ben, meet Anna Keller, Head of People at Northwind Labs and one of my
        favourite clients.

        Over to you two!

        Sam
        """, cases=("nudge-introduction",)),

    # --- Felix: passed Sam a lead; Sam never said thanks ---
    Mail("felix-breakfast", "2026-09-25 11:00", "sam", ("felix",), subject="Good to meet you at the founders' breakfast", body="""
        Hi Felix,

        Good to meet you this morning. The pricing checklist I mentioned is
        here: https://rivera-consulting.example/checklist

        Sam
        """),
    Mail("felix-breakfast-re", "2026-09-28 08:30", "felix", ("sam",), parent="felix-breakfast", body="""
        Thanks Sam, already shared it with two of our portfolio companies.
        """, cases=("closing-ack", "threaded-by-headers")),
    Mail("felix-lead", "2026-11-04 18:10", "felix", ("sam",), subject="Carla Mendes at Oakridge", body="""
        Hi Sam,

        You should talk to Carla Mendes at Oakridge, I passed your name to
        her. They are rethinking their pricing for 2027 and she is the one
        deciding. Her address is carla.mendes@oakridge.example.
        """, cases=("nudge-lead-no-thanks",)),

    # --- People waiting on Sam (no reply from Sam) ---
    Mail("jurgen-training", "2026-09-22 09:30", "juergen", ("sam",), kind="iso-8859-1",
         subject="Schulung für unser Vertriebsteam", body="""
        Dear Mr Rivera,

        a colleague recommended you. Would you offer a pricing training for
        our sales team of 12 people here in Köln? Ideally in the first
        quarter of 2027.
        """, cases=("iso-8859-1",), replied=True),
    Mail("jurgen-training-re", "2026-09-23 10:10", "sam", ("juergen",), parent="jurgen-training", body="""
        Dear Mr Hoffmann,

        Thank you for your message. A one-day training for up to 15 people
        costs 2,400 EUR plus travel. It covers value-based pricing, handling
        discount requests and a practice session with your own offers.

        Kind regards,
        Sam Rivera
        """, cases=("threaded-by-headers",)),
    # An old client: no threading headers, German reply prefix, 48 days later.
    Mail("jurgen-dates", "2026-11-10 08:15", "juergen", ("sam",), parent="jurgen-training-re", thread_headers=False,
         kind="iso-8859-1", body="""
        Dear Mr Rivera,

        good news: the budget for the training is approved for January. Which
        dates in January would be possible for you? Our sales meeting is on
        Mondays, so a Tuesday or Wednesday would suit us best.
        """, cases=("waiting-on-sam", "waiting-on-sam-question", "iso-8859-1", "threaded-by-subject", "outlook-quote")),
    Mail("kenji-workshop", "2026-09-29 02:20", "kenji", ("sam",), subject="Workshop for our studio team", body="""
        Dear Sam,

        We are a small ceramics studio (9 people) and we would like to learn
        how to price commissions. Do you also work remotely?
        """, replied=True),
    Mail("kenji-workshop-re", "2026-09-29 10:05", "sam", ("kenji",), parent="kenji-workshop", body="""
        Dear Kenji,

        Yes, I run remote workshops in two sessions of three hours, which
        works well across time zones. Pricing commissions is a favourite
        topic of mine.

        Best regards,
        Sam
        """, cases=("threaded-by-headers",)),
    Mail("kenji-rates", "2026-11-13 01:40", "kenji", ("sam",), subject="Rate card for 2027", body="""
        Dear Sam,

        Our budget planning for 2027 starts next week. Do you have a rate card
        for workshops that I could show our partners?
        """, cases=("waiting-on-sam", "waiting-on-sam-question")),
    Mail("isabel-dates", "2026-09-14 15:30", "isabel", ("sam",), kind="broken-charset",
         subject="Workshop at Marea Hotels – dates", body="""
        Hello Sam,

        We'd like to book the “pricing for front-desk teams” workshop for our
        Porto hotel. Could you do 7 or 8 October? The café terrace room is
        free on both days.
        """, cases=("broken-charset",), replied=True),
    Mail("isabel-dates-re", "2026-09-15 09:00", "sam", ("isabel",), parent="isabel-dates", body="""
        Hello Isabel,

        8 October works well for me. The room sounds perfect; 20 people is
        the upper limit for this format.

        Best,
        Sam
        """, cases=("threaded-by-headers",)),
    Mail("isabel-dates-ack", "2026-09-15 11:30", "isabel", ("sam",), parent="isabel-dates-re", body="""
        Perfect, 8 October is booked. See you in Porto!
        """, cases=("closing-ack", "threaded-by-headers")),
    Mail("isabel-feedback", "2026-11-06 17:20", "isabel", ("sam",), subject="Feedback from the October workshop", body="""
        Hello Sam,

        The feedback forms are in and the team loved the workshop, especially
        the role plays. Would you be open to running a second round in
        spring, maybe in March, for the Lisbon team?
        """, cases=("waiting-on-sam", "waiting-on-sam-question")),
    Mail("hannah-kickoff", "2026-11-19 06:55", "hannah", ("sam",), subject="Pricing strategy workshop in December?", kind="alternative", body="""
        Dear Sam,

        We would like to run a pricing strategy workshop for our leadership
        team before Christmas. Could you send me your availability for a
        kickoff call in the first week of December?
        """, cases=("waiting-on-sam", "waiting-on-sam-question", "multipart-alternative", "unread-new"), unread=True),
    Mail("grace-access", "2026-11-17 13:40", "grace", ("ethan",), cc=("sam",), subject="Workspace access for Sam", body="""
        Hi Ethan,

        Could you set Sam up with guest access to the analytics workspace
        before the December workshop? Read-only is enough.

        Sam, copying you so you know it is on its way.
        """, cases=("cc-only",)),

    # --- Sam waiting on others ---
    Mail("hugo-draft", "2026-10-08 12:00", "hugo", ("sam",), subject="Services agreement – draft", body="""
        Dear Sam,

        Please find the draft of your standard services agreement at
        https://files.marchetti-legal.example/rivera/agreement-v1 (password as
        agreed by phone).
        """, replied=True),
    Mail("hugo-draft-re", "2026-10-09 09:15", "sam", ("hugo",), parent="hugo-draft", body="""
        Thanks Hugo, received. That was quick!

        Sam
        """, cases=("threaded-by-headers",)),
    Mail("hugo-ip-question", "2026-11-12 10:30", "sam", ("hugo",), parent="hugo-draft-re", body="""
        Hi Hugo,

        One question before I send the agreement to clients: does the draft
        cover the IP for workshop materials that I reuse across clients?
        Could you confirm?

        Thanks,
        Sam
        """, cases=("sam-waiting", "threaded-by-headers")),
    Mail("hugo-ooo", "2026-11-12 10:31", "hugo", ("sam",), parent="hugo-ip-question", quote=False, kind="auto-reply",
         subject="Automatic reply: Re: Services agreement – draft", body="""
        Thank you for your message. I am out of the office until 23 November
        with limited access to email. For urgent matters please write to
        studio@marchetti-legal.example.
        """, cases=("automated", "auto-reply", "threaded-by-headers")),
    Mail("nadia-firstcut", "2026-10-20 15:10", "nadia", ("sam",), subject="Q3 survey – first cut", body="""
        Hi Sam,

        First cut of the Q3 survey is on the dashboard:
        https://dash.rahman-analytics.example/rivera/q3

        Response rate ended at 41%.
        """, replied=True),
    Mail("nadia-firstcut-re", "2026-10-21 09:00", "sam", ("nadia",), parent="nadia-firstcut", body="""
        Thanks Nadia, very useful. 41% is better than I hoped.

        Sam
        """, cases=("threaded-by-headers",)),
    Mail("nadia-export", "2026-11-13 11:45", "sam", ("nadia",), subject="Q3 survey export", body="""
        Hi Nadia,

        Can you send me the raw export of the Q3 survey when you get a chance?
        I'd like to rerun the segment analysis with the new size bands.

        Thanks,
        Sam
        """, cases=("sam-waiting",)),

    # --- History: a September promise nobody kept; older than the demo's
    # lookback (30 days), so it is counted, not listed ---
    Mail("jonas-menu", "2026-09-16 09:30", "jonas", ("sam",), subject="New menu prices", body="""
        Hi Sam,

        We printed the new menu last week. Could you look over the prices
        and tell me what you would change?
        """, replied=True),
    Mail("jonas-menu-re", "2026-09-16 16:00", "sam", ("jonas",), parent="jonas-menu", body="""
        Hi Jonas,

        Happy to. I'll send you my notes on the menu prices by Friday.

        Sam
        """, cases=("history-old-promise", "threaded-by-headers")),

    # --- Kept by the answer itself: the figure, three hours later ---
    Mail("jonas-margin", "2026-11-16 09:10", "jonas", ("sam",), subject="Filter coffee margin", body="""
        Hi Sam,

        What gross margin did we end up with on the filter coffee after the
        price change?
        """, replied=True),
    Mail("jonas-margin-re", "2026-11-16 09:40", "sam", ("jonas",), parent="jonas-margin", body="""
        Hi Jonas,

        Let me check the October numbers and I'll get back to you with the
        margin this afternoon.

        Sam
        """, cases=("threaded-by-headers",)),
    Mail("jonas-margin-answer", "2026-11-16 13:05", "sam", ("jonas",), parent="jonas-margin-re", body="""
        Jonas,

        Filter coffee made a 71% gross margin in October, up from 64% in
        September: 3.20 EUR a cup against 0.93 EUR of cost.

        Sam
        """, cases=("kept-by-inline-answer", "keeps-promise", "threaded-by-headers")),

    # --- Kept by a forward to the person the promise names ---
    Mail("clara-liability", "2026-11-17 10:00", "clara", ("sam",), subject="Liability clause", body="""
        Hi Sam,

        Our legal team has a question about the liability clause in your
        services agreement. Who should they talk to?
        """, replied=True),
    Mail("clara-liability-re", "2026-11-17 10:20", "sam", ("clara",), parent="clara-liability", body="""
        Hi Clara,

        I shall forward your message to Hugo Marchetti, my lawyer, who
        drafted the clause.

        Sam
        """, cases=("threaded-by-headers",)),
    Mail("clara-liability-fwd", "2026-11-17 10:21", "sam", ("hugo",), subject="Fwd: Liability clause", quote=False, body="""
        Hugo, could you answer Clara's question below?

        Sam

        ---------- Forwarded message ---------
        From: Clara Jung <clara.jung@jung-events.example>
        Date: Tue, 17 Nov 2026 10:00
        Subject: Liability clause
        To: Sam Rivera <sam@rivera-consulting.example>

        Hi Sam,

        Our legal team has a question about the liability clause in your
        services agreement. Who should they talk to?
        """, cases=("kept-by-forward", "keeps-promise")),

    # --- Not kept: a forward to Sam's own other address ---
    Mail("ethan-agenda", "2026-11-16 11:00", "ethan", ("sam",), subject="Workshop agenda", body="""
        Hi Sam,

        Could you send me the agenda for the Northwind workshop? I'd like to
        book the room for the right hours.
        """, replied=True),
    Mail("ethan-agenda-re", "2026-11-16 12:00", "sam", ("ethan",), parent="ethan-agenda", body="""
        Hi Ethan,

        Sure, I'll send you the agenda on Thursday.

        Sam
        """, cases=("threaded-by-headers",)),
    Mail("ethan-agenda-self", "2026-11-16 12:05", "sam", ("sam-alias",), subject="Fwd: Workshop agenda", quote=False, body="""
        To do at home.

        ---------- Forwarded message ---------
        From: Ethan Moore <ethan.moore@northwind-labs.example>
        Date: Mon, 16 Nov 2026 11:00
        Subject: Workshop agenda

        Could you send me the agenda for the Northwind workshop? I'd like to
        book the room for the right hours.
        """, cases=("not-kept-forward-to-self", "alias")),

    # --- Not kept: an acknowledgement in the thread ---
    Mail("rosa-flyer", "2026-11-11 09:00", "rosa", ("sam",), subject="Print flyer", body="""
        Hi Sam,

        When can you send me the final copy for the print flyer?
        """, replied=True),
    Mail("rosa-flyer-re", "2026-11-11 10:00", "sam", ("rosa",), parent="rosa-flyer", body="""
        Hi Rosa,

        I'll send you the final copy tomorrow.

        Sam
        """, cases=("threaded-by-headers",)),
    Mail("rosa-flyer-ack", "2026-11-11 10:30", "rosa", ("sam",), parent="rosa-flyer-re", body="""
        Great, the printer needs it by Friday.
        """, cases=("threaded-by-headers",)),
    Mail("rosa-flyer-cool", "2026-11-11 10:45", "sam", ("rosa",), parent="rosa-flyer-ack", body="""
        Cool.
        """, cases=("not-kept-by-ack", "threaded-by-headers")),

    # --- A date beats its weekday ---
    Mail("lukas-tiers", "2026-11-18 15:00", "lukas", ("sam",), subject="Pricing tiers", body="""
        Hi Sam,

        Could we meet to go through the three pricing tiers before the
        season starts?
        """, replied=True),
    Mail("lukas-tiers-re", "2026-11-18 16:30", "sam", ("lukas",), parent="lukas-tiers", body="""
        Hi Lukas,

        Yes. Let's meet on Monday at 4:00 p.m., November 30th, at your shop.

        Sam
        """, cases=("due-explicit-date", "threaded-by-headers")),

    # --- Machines ---
    Mail("ledger-112", "2026-09-07 06:00", "ledger", ("sam",), kind="newsletter", subject="The Ledger #112: Retainers without regret", body="""
        THE CONSULTANT'S LEDGER - issue 112

        Are your retainers quietly losing you money? This week: three
        questions to ask before you renew one, and why "unlimited revisions"
        is never unlimited.

        Reply to this email and we'll send you our retainer checklist.
        """, cases=("automated", "newsletter")),
    Mail("ledger-114", "2026-09-21 06:00", "ledger", ("sam",), kind="newsletter", subject="The Ledger #114: When to raise your rates", body="""
        THE CONSULTANT'S LEDGER - issue 114

        When did you last raise your rates? If you can't remember, it was
        too long ago. This week: a script for the conversation.
        """, cases=("automated", "newsletter")),
    Mail("ledger-116", "2026-10-05 06:00", "ledger", ("sam",), kind="newsletter", subject="The Ledger #116: Scope creep, measured", body="""
        THE CONSULTANT'S LEDGER - issue 116

        We asked 300 consultants how much unpaid work their last project had.
        The median answer: 19%. Can you guess yours?
        """, cases=("automated", "newsletter")),
    Mail("ledger-120", "2026-11-02 06:00", "ledger", ("sam",), kind="newsletter", subject="The Ledger #120: Saying no to good clients", body="""
        THE CONSULTANT'S LEDGER - issue 120

        Should you ever turn down a client who pays well? Yes, and here is
        how to tell when. Next week we'll send you the full interview.
        """, cases=("automated", "newsletter")),
    Mail("growth-signals", "2026-11-18 07:00", "growth", ("sam",), kind="html-newsletter",
         subject="Are you charging enough? 5 signals from 400 proposals", body="""
        Are you charging enough?

        We read 400 proposals from independent consultants. Here are the five
        signals that you are underpricing. Can you spot yours?

        We'll send you the full report next Tuesday.
        """, cases=("automated", "newsletter", "html-only-script", "unread-new"), unread=True),
    Mail("nordic-earlybird", "2026-11-16 08:00", "maja", ("sam",), subject="Early-bird tickets end Friday", body="""
        Hi Sam,

        Early-bird tickets for Nordic SaaS Day 2027 end this Friday. Will you
        join us again in Copenhagen? Save 40% with the code NORDIC27.

        See the programme: https://nordicsaasday.example/2027

        You receive this because you attended Nordic SaaS Day 2026. To
        unsubscribe, reply with UNSUBSCRIBE in the subject line.
        """, cases=("automated", "newsletter-no-list-headers")),
    Mail("ledgerly-paid", "2026-10-16 09:02", "ledgerly", ("sam",), kind="noreply", subject="Invoice RC-2026-037 has been paid", body="""
        Good news! Northwind Labs paid invoice RC-2026-037 (4,800.00 EUR).

        Do you want to send a thank-you note? Open Ledgerly to reply.
        """, cases=("automated", "noreply")),
    Mail("ledgerly-viewed", "2026-11-16 14:47", "ledgerly", ("sam",), kind="noreply", subject="Invoice RC-2026-041 was viewed by Marea Hotels", body="""
        Marea Hotels viewed invoice RC-2026-041 (2,900.00 EUR) today at 14:47.

        The invoice is due on 30 November 2026.
        """, cases=("automated", "noreply")),
)

# Files placed in new/ of the Sent folder: one message appended by a phone
# client without the Seen flag. It also keeps .Sent/new/ in git.
SENT_UNREAD = ("olivia-budget-re",)


# ---------------------------------------------------------------------------
# Building messages
# ---------------------------------------------------------------------------


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _message_id(mail: Mail) -> str:
    domain = PEOPLE[mail.sender].email.split("@", 1)[1]
    return f"<{mail.date.astimezone(ZoneInfo('UTC')):%Y%m%d%H%M%S}.{mail.key}@{domain}>"


def _sender_date(mail: Mail) -> datetime:
    """The message time as the sender's client stamps it."""
    return mail.date.astimezone(ZoneInfo(PEOPLE[mail.sender].zone))


def _by_key() -> dict[str, Mail]:
    return {mail.key: mail for mail in MAILS}


def _root_subject(mail: Mail, mails: dict[str, Mail]) -> str:
    while mail.subject is None and mail.parent is not None:
        mail = mails[mail.parent]
    subject = mail.subject or ""
    # Strip one layer of reply prefixes so "Re: RE: AW:" chains do not grow.
    for prefix in ("Re: ", "RE: ", "AW: ", "R: "):
        if subject.startswith(prefix):
            return subject[len(prefix):]
    return subject


def subject_of(mail: Mail, mails: dict[str, Mail]) -> str:
    """The Subject header of `mail`: its own, or the parent's with a reply prefix."""
    if mail.subject is not None:
        return mail.subject
    return PEOPLE[mail.sender].reply_prefix + _root_subject(mail, mails)


def references_of(mail: Mail, mails: dict[str, Mail]) -> list[str]:
    """Message-IDs of the ancestors that carry threading headers, oldest first."""
    chain: list[str] = []
    current = mail
    while current.parent is not None and current.thread_headers:
        parent = mails[current.parent]
        chain.append(_message_id(parent))
        current = parent
    return list(reversed(chain))


def fresh_text(mail: Mail) -> str:
    """The text the author wrote in this message, with their signature."""
    text = _dedent(mail.body)
    signature = PEOPLE[mail.sender].signature
    if signature and mail.kind not in ("auto-reply", "newsletter", "html-newsletter", "noreply"):
        text = f"{text}\n\n{signature}"
    return text


def full_text(mail: Mail, mails: dict[str, Mail]) -> str:
    """The whole plain-text body: fresh text and, for replies, the quoted parent."""
    text = fresh_text(mail)
    if mail.parent is None or not mail.quote:
        return text + "\n"
    parent = mails[mail.parent]
    replier = PEOPLE[mail.sender]
    author = PEOPLE[parent.sender]
    parent_text = full_text(parent, mails).rstrip("\n")
    when = parent.date.astimezone(ZoneInfo(replier.zone))
    if replier.quote_style == "outlook":
        header = "\n".join((
            "-----Original Message-----",
            f"From: {author.name} <{author.email}>",
            f"Sent: {when:%A, %B} {when.day}, {when:%Y %I:%M %p}",
            "To: " + "; ".join(f"{PEOPLE[k].name} <{PEOPLE[k].email}>" for k in parent.to),
            f"Subject: {subject_of(parent, mails)}",
        ))
        return f"{text}\n\n{header}\n\n{parent_text}\n"
    if replier.quote_style == "apple":
        intro = f"On {when.day} {when:%b %Y}, at {when:%H:%M}, {author.name} <{author.email}> wrote:"
    else:
        intro = f"On {when:%a}, {when.day} {when:%b %Y} at {when:%H:%M}, {author.name} <{author.email}> wrote:"
    quoted = "\n".join(
        (">" + line if line.startswith(">") else "> " + line) if line else ">"
        for line in parent_text.split("\n")
    )
    return f"{text}\n\n{intro}\n{quoted}\n"


def _html_of(text: str) -> str:
    """A plain HTML rendering of a text body, as a webmail client would send it."""
    fresh, _, quoted = text.partition("\n\n-----Original Message-----")
    paragraphs = "".join(
        "<p>" + escape(block).replace("\n", "<br>\n") + "</p>\n" for block in fresh.strip().split("\n\n")
    )
    if quoted:
        paragraphs += (
            '<hr>\n<div class="quoted"><pre>-----Original Message-----'
            + escape(quoted) + "</pre></div>\n"
        )
    return (
        '<html><head><meta charset="utf-8"></head>\n'
        '<body style="font-family: Calibri, sans-serif">\n' + paragraphs + "</body></html>\n"
    )


def _tiny_pdf(title: str, lines: tuple[str, ...]) -> bytes:
    """A small but valid one-page PDF (fixed bytes: no dates, no ids)."""
    text_ops = [f"BT /F1 22 Tf 72 760 Td ({title}) Tj ET"]
    for number, line in enumerate(lines):
        text_ops.append(f"BT /F1 13 Tf 72 {712 - 24 * number} Td ({line}) Tj ET")
    stream = "\n".join(text_ops).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


SLIDES_PDF = _tiny_pdf(
    "Pricing for small teams",
    ("Leipzig pricing meetup, 12 October 2026", "1. Price the outcome, not the hours",
     "2. Discounts only in exchange for something", "3. Review retainers every quarter"),
)


def _calendar(mail: Mail) -> str:
    """The text/calendar request attached to Olivia's invitation."""
    organizer = PEOPLE[mail.sender]
    stamp = mail.date.astimezone(ZoneInfo("UTC"))
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Grant & Partners//Calendar 4.2//EN",
        "VERSION:2.0",
        "METHOD:REQUEST",
        "BEGIN:VEVENT",
        f"UID:{mail.key}@grant-partners.example",
        f"DTSTAMP:{stamp:%Y%m%dT%H%M%SZ}",
        "DTSTART:20261023T090000Z",
        "DTEND:20261023T103000Z",
        "SUMMARY:Strategy sprint kickoff",
        "LOCATION:Grant & Partners\\, 4th floor\\, London",
        f"ORGANIZER;CN={organizer.name}:mailto:{organizer.email}",
        f"ATTENDEE;CN=Sam Rivera;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:"
        f"mailto:{PEOPLE['sam'].email}",
        "STATUS:CONFIRMED",
        "SEQUENCE:0",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def _address_list(keys: tuple[str, ...]) -> str:
    return ", ".join(PEOPLE[key].header for key in keys)


def _fix_boundaries(msg: EmailMessage, key: str) -> None:
    # The email package picks random boundaries; fixed ones keep runs identical.
    for number, part in enumerate(part for part in msg.walk() if part.is_multipart()):
        part.set_boundary(f"=_kept-sample_{key}_{number}")


def _common_headers(mail: Mail, mails: dict[str, Mail]) -> list[tuple[str, str]]:
    sender = PEOPLE[mail.sender]
    headers: list[tuple[str, str]] = []
    if not mail.is_sent:
        recipient = PEOPLE["sam-alias" if "sam-alias" in mail.to else "sam"]
        headers.append(("Return-Path", f"<{sender.email}>"))
        headers.append(("Delivered-To", recipient.email))
    headers += [
        ("From", sender.header),
        ("To", _address_list(mail.to)),
    ]
    if mail.cc:
        headers.append(("Cc", _address_list(mail.cc)))
    headers += [
        ("Subject", subject_of(mail, mails)),
        ("Date", format_datetime(_sender_date(mail))),
        ("Message-ID", _message_id(mail)),
    ]
    references = references_of(mail, mails)
    if references:
        headers.append(("In-Reply-To", references[-1]))
        headers.append(("References", " ".join(references)))
    return headers


def _build_legacy(mail: Mail, mails: dict[str, Mail], charset: str, declared: str) -> bytes:
    """Write headers and an 8-bit body by hand, as old clients and booking systems do.

    `charset` encodes the text; `declared` is what the Content-Type claims.
    """
    lines = []
    for name, value in _common_headers(mail, mails):
        if name in ("From", "To", "Cc"):
            keys = {"From": (mail.sender,), "To": mail.to, "Cc": mail.cc}[name]
            value = ", ".join(formataddr((PEOPLE[k].name, PEOPLE[k].email), charset=charset) for k in keys)
        elif name == "Subject":
            # The encoded word repeats the declared (possibly bogus) charset name.
            value = Header(value, charset).encode().replace(f"=?{charset}?", f"=?{declared}?")
        lines.append(f"{name}: {value}")
    lines += [
        "X-Mailer: Microsoft Outlook 14.0" if charset == "iso-8859-1" else "X-Mailer: HotelDesk Mailer 2.3",
        "MIME-Version: 1.0",
        f'Content-Type: text/plain; charset="{declared}"',
        "Content-Transfer-Encoding: 8bit",
    ]
    head = "\n".join(lines).encode("ascii")
    return head + b"\n\n" + full_text(mail, mails).encode(charset)


def build_message(mail: Mail, mails: dict[str, Mail]) -> bytes:
    """The raw RFC 5322 bytes of `mail` (LF line ends, as Maildir files have)."""
    if mail.kind == "iso-8859-1":
        return _build_legacy(mail, mails, "iso-8859-1", "iso-8859-1")
    if mail.kind == "broken-charset":
        # Windows-1252 bytes under a name no codec knows.
        return _build_legacy(mail, mails, "cp1252", "win-1252")

    msg = EmailMessage(policy=email.policy.default)
    for name, value in _common_headers(mail, mails):
        msg[name] = value
    text = full_text(mail, mails)
    sender = PEOPLE[mail.sender]

    if mail.kind in ("newsletter", "html-newsletter"):
        list_domain = sender.email.split("@", 1)[1]
        msg["List-Id"] = f"{sender.name} <letters.{list_domain}>"
        msg["List-Unsubscribe"] = (
            f"<https://{list_domain}/unsubscribe?u=5f2a91c7>, <mailto:unsubscribe@{list_domain}?subject=unsubscribe>"
        )
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["Precedence"] = "bulk"
    if mail.kind == "noreply":
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
    if mail.kind == "auto-reply":
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["X-Autoreply"] = "yes"

    if mail.kind == "html-newsletter":
        msg.set_content(_newsletter_html(mail), subtype="html")
    elif mail.kind == "alternative":
        msg.set_content(text)
        msg.add_alternative(_html_of(text), subtype="html")
    elif mail.kind == "calendar":
        msg.set_content(text)
        msg.add_alternative(_html_of(text), subtype="html")
        msg.add_alternative(_calendar(mail), subtype="calendar", params={"method": "REQUEST"})
    elif mail.kind == "attachment":
        msg.set_content(text)
        msg.add_attachment(
            SLIDES_PDF, maintype="application", subtype="pdf",
            filename="rivera-pricing-for-small-teams.pdf",
        )
    elif mail.sender == "sam":
        # Thunderbird sends UTF-8 as 8bit; the other clients here use quoted-printable.
        msg.set_content(text, cte="8bit")
    else:
        msg.set_content(text)
    if mail.kind in ("text", "alternative", "calendar", "attachment") and mail.sender in SAM_KEYS:
        msg["User-Agent"] = "Thunderbird/128.4.2" if mail.sender == "sam" else "Fastmail Web"
    _fix_boundaries(msg, mail.key)
    return msg.as_bytes(policy=email.policy.default)


def _newsletter_html(mail: Mail) -> str:
    paragraphs = "".join(f"<p>{escape(block)}</p>\n" for block in _dedent(mail.body).split("\n\n"))
    return (
        "<!DOCTYPE html>\n<html><head><title>Growth Signals</title>\n"
        "<style>body{font-family:Georgia,serif} .cta{background:#ff5a1f;color:#fff}</style>\n"
        "<script>window.gs=window.gs||[];gs.push(['open','sam-7731']);"
        "document.write('<img src=\"https://t.growthsignals.example/o.gif?u=sam-7731\">');</script>\n"
        "</head><body>\n<h1>Growth Signals</h1>\n" + paragraphs +
        '<p><a class="cta" href="https://growthsignals.example/r/400-proposals?u=sam-7731">Read the report</a></p>\n'
        '<p style="font-size:11px">You receive this because you signed up at growthsignals.example. '
        '<a href="https://growthsignals.example/unsubscribe?u=sam-7731">Unsubscribe</a></p>\n'
        '<img src="https://t.growthsignals.example/pixel.gif?u=sam-7731" width="1" height="1" alt="">\n'
        "</body></html>\n"
    )


# ---------------------------------------------------------------------------
# Writing the Maildir
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where one message is written: folder, sub-directory and file name."""

    mail: Mail
    folder: str
    subdir: str
    filename: str

    def path(self, root: Path) -> Path:
        return root / self.folder / self.subdir / self.filename if self.folder else root / self.subdir / self.filename


def placements() -> list[Placement]:
    """Every message with its Maildir location, oldest first."""
    result = []
    for mail in sorted(MAILS, key=lambda m: m.date):
        folder = SENT_FOLDER if mail.is_sent else INBOX_FOLDER
        unread = mail.unread or mail.key in SENT_UNREAD
        # Maildir names: <time>.<unique>.<host>[:2,<flags>]; files in new/ carry
        # no flags. The key as the unique part keeps names stable when mail is
        # added to the data, and lets the README point at files by key.
        base = f"{int(mail.date.timestamp())}.{mail.key}.{HOSTNAME}"
        if unread:
            filename, subdir = base, "new"
        else:
            flags = "RS" if mail.replied else "S"
            filename, subdir = f"{base}:2,{flags}", "cur"
        result.append(Placement(mail, folder, subdir, filename))
    return result


def write_maildir(root: Path) -> int:
    """(Re)write the sample Maildir at `root`; returns the number of messages."""
    mails = _by_key()
    if root.exists():
        # Refuse to wipe a folder this script did not make.
        if any(root.iterdir()) and not (root / "cur").is_dir():
            raise SystemExit(f"{root} exists and is not a Maildir; not overwriting it")
        shutil.rmtree(root)
    for folder in (INBOX_FOLDER, SENT_FOLDER):
        for subdir in ("cur", "new", "tmp"):
            (root / folder / subdir).mkdir(parents=True, exist_ok=True)
        # tmp/ is never read, so a placeholder there keeps the folder in git.
        (root / folder / "tmp" / ".gitkeep").write_bytes(b"")
    # Maildir++ marks sub-folders with this empty file.
    (root / SENT_FOLDER / "maildirfolder").write_bytes(b"")
    count = 0
    for placement in placements():
        path = placement.path(root)
        path.write_bytes(build_message(placement.mail, mails))
        stamp = placement.mail.date.timestamp()
        os.utime(path, (stamp, stamp))
        count += 1
    return count


# ---------------------------------------------------------------------------
# --check and --manifest
# ---------------------------------------------------------------------------


def _body_text(msg: email.message.EmailMessage) -> str:
    """Best-effort plain text of a parsed message, tolerant of unknown charsets."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("cp1252", errors="replace")


def manifest(root: Path) -> list[dict[str, object]]:
    """One record per message: file, folder, Message-ID, date and cases."""
    return [
        {
            "file": str(p.path(root).relative_to(root)),
            "folder": p.folder or "INBOX",
            "message_id": _message_id(p.mail),
            "key": p.mail.key,
            "date": p.mail.date.isoformat(),
            "role": "sent" if p.mail.is_sent else "received",
            "cases": list(p.mail.cases),
        }
        for p in placements()
    ]


def check(root: Path) -> int:
    """Parse every file back with the email package and verify the cases; returns an exit code."""
    problems: list[str] = []
    by_folder: Counter[str] = Counter()
    expected = {p.path(root): p for p in placements()}
    seen_ids: set[str] = set()
    case_counts: Counter[str] = Counter()
    sent = 0
    files = sorted(
        path for path in root.rglob("*")
        if path.is_file() and path.parent.name in ("cur", "new")
    )
    for path in files:
        placement = expected.get(path)
        if placement is None:
            problems.append(f"unexpected file {path}")
            continue
        mail = placement.mail
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        folder = placement.folder or "INBOX"
        by_folder[f"{folder}/{placement.subdir}"] += 1
        message_id = str(msg["Message-ID"])
        if message_id in seen_ids:
            problems.append(f"{path.name}: duplicate Message-ID {message_id}")
        seen_ids.add(message_id)
        date = parsedate_to_datetime(str(msg["Date"]))
        if not FIRST_DAY <= date < DEMO_NOW - timedelta(hours=12):
            problems.append(f"{path.name}: date {date} outside 2026-09-01 .. 2026-11-19")
        if date != mail.date:
            problems.append(f"{path.name}: Date header {date} differs from {mail.date}")
        if int(path.stat().st_mtime) != int(mail.date.timestamp()):
            problems.append(f"{path.name}: mtime differs from the message date")
        in_reply_to = msg["In-Reply-To"]
        if mail.thread_headers and mail.parent and not in_reply_to:
            problems.append(f"{mail.key}: reply without In-Reply-To")
        if not mail.thread_headers and in_reply_to:
            problems.append(f"{mail.key}: meant for subject threading but has In-Reply-To")
        for defect in msg.defects:
            problems.append(f"{mail.key}: {type(defect).__name__}")
        text = _body_text(msg)
        if not _dedent(mail.body).split("\n", 1)[0].strip() in text:
            problems.append(f"{mail.key}: body text did not survive the round trip")
        if mail.is_sent:
            sent += 1
        case_counts.update(mail.cases)

    # The demo cases must keep holding as the data is edited.
    mails = _by_key()
    for case in CASES:
        if case_counts[case] == 0:
            problems.append(f"case {case!r} has no message")
    for case in set(case_counts) - set(CASES):
        problems.append(f"unknown case {case!r}")
    problems += _check_stories(mails)

    total = sum(by_folder.values())
    print(f"{total} messages in {root}")
    for folder, count in sorted(by_folder.items()):
        print(f"  {folder:<10} {count:3}")
    print(f"  sent by Sam: {sent} ({sent / max(total, 1):.0%})")
    print(f"  conversations (roots): {sum(1 for m in MAILS if m.parent is None)}")
    print("cases:")
    for case, meaning in CASES.items():
        print(f"  {case_counts[case]:3}  {case:<26} {meaning}")
    if problems:
        print(f"{len(problems)} problems:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("ok")
    return 0


def _after(mails: dict[str, Mail], key: str) -> list[Mail]:
    start = mails[key].date
    return [m for m in MAILS if m.date > start]


def _check_stories(mails: dict[str, Mail]) -> list[str]:
    """Checks that the data still tells the stories the demo relies on."""
    problems = []
    people_of = lambda m: {m.sender, *m.to, *m.cc}  # noqa: E731
    # No mail with Anna or Ben after the introduction.
    for mail in _after(mails, "intro-anna-ben"):
        if people_of(mail) & {"anna", "ben"}:
            problems.append(f"{mail.key}: mail with Anna or Ben after the introduction")
    # No mail from Sam to Felix after the lead.
    for mail in _after(mails, "felix-lead"):
        if mail.is_sent and "felix" in mail.to:
            problems.append(f"{mail.key}: Sam wrote to Felix after the lead")
    # Elena: nothing for 7 weeks before the demo.
    last_elena = max(m.date for m in MAILS if "elena" in people_of(m))
    if DEMO_NOW - last_elena < timedelta(weeks=7):
        problems.append("Elena's silence is shorter than 7 weeks")
    # Waiting on Sam: no later mail from Sam to the sender, age 1 day .. 2 weeks.
    for mail in MAILS:
        if "waiting-on-sam" in mail.cases:
            age = DEMO_NOW - mail.date
            if not timedelta(days=1) <= age <= timedelta(days=14):
                problems.append(f"{mail.key}: waiting-on-sam message is {age} old")
            if "sam" not in mail.to and "sam-alias" not in mail.to:
                problems.append(f"{mail.key}: waiting-on-sam message without Sam in To")
            if any(m.is_sent and mail.sender in m.to for m in _after(mails, mail.key)):
                problems.append(f"{mail.key}: Sam did reply")
        if "sam-waiting" in mail.cases:
            if DEMO_NOW - mail.date < timedelta(days=4):
                problems.append(f"{mail.key}: Sam's question is younger than 4 days")
            answers = [m for m in _after(mails, mail.key) if m.sender in mail.to and m.kind != "auto-reply"]
            if answers:
                problems.append(f"{mail.key}: was answered by {answers[0].key}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Maildir to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="parse the Maildir back and report counts per case")
    parser.add_argument("--manifest", action="store_true", help="print one JSON line per message")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.manifest:
        for record in manifest(args.output):
            print(json.dumps(record, ensure_ascii=False))
        return 0
    if args.check:
        return check(args.output)
    count = write_maildir(args.output)
    logger.info("wrote %d messages to %s", count, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
