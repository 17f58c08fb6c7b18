"""Tests for kept.extractors.cleaning: fresh text, HTML and subjects."""

from __future__ import annotations

import time

import pytest

from kept.extractors.cleaning import clean_body, html_to_text, normalize_subject, split_fresh


def test_outlook_original_message_block_is_cut():
    body = (
        "Jim,\n\nI will send the numbers tomorrow.\n\nPhillip\n\n\n"
        " -----Original Message-----\n"
        "From: \tJames Wills <jim@example.com>@ENRON\n"
        "Sent:\tWednesday, November 14, 2001 1:38 PM\n"
        "To:\tpallen@example.com\n"
        "Subject:\tRe: new listing\n\n"
        "I'll mail you the flyer tonight.\n"
    )
    assert clean_body(body) == "Jim,\n\nI will send the numbers tomorrow.\n\nPhillip"


def test_outlook_header_block_without_marker_is_cut():
    body = (
        "Sounds good, see you then.\n\n"
        "From: Jane Roe [mailto:jane@example.com]\n"
        "Sent: Monday, October 2, 2000 9:12 AM\n"
        "To: John Smith\n"
        "Subject: lunch\n\n"
        "Can you do lunch on Friday?\n"
    )
    assert clean_body(body) == "Sounds good, see you then."


def test_flattened_outlook_header_line_is_cut():
    body = "Agreed.\nFrom: Jane Roe Sent: Monday, October 2, 2000 To: John Smith Subject: lunch\nold text"
    assert clean_body(body) == "Agreed."


def test_a_from_line_in_prose_is_kept():
    body = "From: the desk of the treasurer, a short note.\nWe close the books on Friday."
    assert clean_body(body) == body


def test_lotus_forward_block_is_cut():
    body = (
        "fyi - can you look at the second page?\n"
        "---------------------- Forwarded by Gerald Nemec/HOU/ECT on 03/06/2000 04:05 \n"
        "PM ---------------------------\n\n\n"
        "Rodney Rogers@ENRON\n03/06/2000 01:05 PM\n"
        "To: Lauri A Allen/HOU/ECT@ECT\ncc: \nSubject: Cost estimate\n\n"
        "Lauri, I will send the estimate on Monday.\n"
    )
    assert clean_body(body) == "fyi - can you look at the second page?"


def test_lotus_short_forward_marker_is_cut():
    body = "See below.\n----- Forwarded by Jane Doe/HOU/ECT on 10/02/2000 09:12 AM -----\nold text"
    assert clean_body(body) == "See below."


def test_lotus_reply_header_block_is_cut_with_sender_and_date_lines():
    body = (
        "Thanks for the welcome.  --Sally\n\n\n\n"
        "Ryan Doe@ENRON\n"
        "01/26/2001 10:28 AM\n"
        "Sent by: Ryan Doe@ENRON\n"
        "To: Sally Roe/HOU/ECT@ECT\n"
        "cc:  \n"
        "Subject: Congratulations\n\n"
        "I will visit you on 2/5.\n"
    )
    assert clean_body(body) == "Thanks for the welcome.  --Sally"


def test_lotus_indented_sender_with_date_on_one_line_is_cut():
    body = (
        "Who will own this going forward?\n\n"
        "   Kim Doe                12/27/2000 05:51 PM\n\n"
        "To: Stephen Roe/HOU/ECT@ECT\n"
        "cc: Sally Roe/HOU/ECT@ECT, Larry Poe/HOU/ECT@ECT, Leslie \n"
        "Reeves/HOU/ECT@ECT\n"
        "Subject: Confirmations\n\nStatus follows.\n"
    )
    assert clean_body(body) == "Who will own this going forward?"


def test_lotus_on_date_attribution_is_cut():
    body = "Glad to help.\n\nNicole Doe@ENRON COMMUNICATIONS on 02/22/2001 09:52:40 AM\nTo: Sally\nold"
    assert clean_body(body) == "Glad to help."


def test_lotus_block_keeps_author_sign_off_name():
    # A bare name above "To:" without any date is the author's own sign-off
    # followed by a pasted address list, not a Lotus header.
    body = "Please send the draft.\n\nGerald\nTo: everyone on the list\nSubject: draft"
    assert clean_body(body).startswith("Please send the draft.\n\nGerald")


def test_quoted_lines_are_dropped_but_inline_answers_stay():
    body = (
        "On Tue, Oct 3, 2000 at 9:12 AM, Jane Roe <jane@example.com> wrote:\n"
        "> Can you send the report?\n"
        "Yes, I will send it tonight.\n"
        "> And the slides?\n"
        "Those on Monday.\n"
    )
    assert clean_body(body) == "Yes, I will send it tonight.\nThose on Monday."


def test_wrapped_attribution_with_unquoted_old_text_is_cut():
    body = (
        "Works for me.\n\n"
        "On Tue, Oct 3, 2000 at 9:12 AM, Jane Roe\n<jane@example.com> wrote:\n"
        "Can you send the report?\n"
    )
    assert clean_body(body) == "Works for me."


def test_bare_address_wrote_line_is_cut():
    body = "Agreed.\n\nPhillip.K.Allen@example.com wrote:\n\nJim, I need the spreadsheet.\n"
    assert clean_body(body) == "Agreed."


def test_dash_dash_signature_is_cut():
    body = "I'll call you tomorrow.\n\n-- \nJohn Smith\nACME Corp\n+1 555 0100\n"
    assert clean_body(body) == "I'll call you tomorrow."


def test_sign_off_with_short_contact_block_is_cut_but_sign_off_kept():
    body = "I'll call you tomorrow.\n\nBest regards,\nJohn Smith\nSenior Analyst\nACME Corp.\n(713) 555-0100\n"
    assert clean_body(body) == "I'll call you tomorrow.\n\nBest regards,"


def test_sign_off_followed_by_prose_is_not_a_signature():
    body = "Thanks,\n\nAlso, I will bring the contract to the meeting on Friday and walk you through it."
    assert clean_body(body) == body


def test_short_last_paragraph_is_kept():
    body = "The draft is attached.\n\nCall me."
    assert clean_body(body) == body


def test_legal_disclaimer_is_cut():
    body = (
        "I will send the signed copy on Monday.\n\n"
        "**********************************************************************\n"
        "This e-mail is the property of Example Corp. and may contain confidential and privileged "
        "material for the sole use of the intended recipient(s). Any review or distribution by others "
        "is strictly prohibited.\n"
        "**********************************************************************\n"
    )
    assert clean_body(body) == "I will send the signed copy on Monday."


def test_author_sentence_about_confidential_message_is_kept():
    body = "I will forward you the message, it is confidential."
    assert clean_body(body) == body


@pytest.mark.parametrize("footer", ["Sent from my iPhone", "Sent from my BlackBerry Wireless Handheld", "Get Outlook for iOS"])
def test_mobile_footers_are_dropped(footer):
    assert clean_body(f"On my way.\n\n{footer}\n") == "On my way."


def test_the_rule_a_mobile_footer_hung_from_is_dropped_too():
    """Left in, the rule ended the last sentence: "I need your home cell or whatever -----"."""
    body = "I need your home cell or whatever\n--------------------------\nSent from my BlackBerry Wireless Handheld (www.BlackBerry.net)\n"
    assert clean_body(body) == "I need your home cell or whatever"
    # A rule inside the text is the writer's.
    assert clean_body("Totals:\n----------\n42 units") == "Totals:\n----------\n42 units"


def test_line_endings_and_blank_runs_are_normalized():
    assert clean_body("a\r\nb\r\r\n\n\n\n\nc\r") == "a\nb\n\nc"


def test_control_and_bidi_characters_are_removed():
    assert clean_body("pay\u202eable\x00 now\x07") == "payable now"


def test_enron_file_markers_become_attachment_names():
    body = "Here is the flyer.\n\n - Canyon Lake.doc << File: Canyon Lake.doc >> \n"
    text, files = split_fresh(body)
    assert text == "Here is the flyer."
    assert files == ("Canyon Lake.doc",)


def test_file_markers_in_quoted_mail_are_not_this_messages_attachments():
    body = "Thanks.\n-----Original Message-----\nFrom: x\n - a.doc << File: a.doc >>\n"
    assert split_fresh(body) == ("Thanks.", ())


def test_giant_line_is_handled_quickly():
    body = "x" * 5_000_000 + "\n> quoted\nfresh"
    started = time.perf_counter()
    text = clean_body(body)
    assert time.perf_counter() - started < 5
    assert text.endswith("fresh") and "quoted" not in text


def test_html_to_text_drops_scripts_and_keeps_blocks():
    html = (
        "<html><head><title>t</title><style>p{}</style></head><body>"
        "<script>alert('x')</script><p>Hello&nbsp;Bob,</p><div>Can you call me?<br>Thanks</div>"
        "</body></html>"
    )
    assert html_to_text(html) == "Hello Bob,\nCan you call me?\nThanks"


def test_html_blockquote_becomes_quoted_and_is_cleaned_away():
    html = "<div>Yes, Friday works.</div><blockquote><div>Can we meet Friday?</div><blockquote>older</blockquote></blockquote>"
    text = html_to_text(html)
    assert "> Can we meet Friday?" in text
    assert clean_body(text) == "Yes, Friday works."


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Lunch", "lunch"),
        ("RE: FW: Re: Lunch  plans", "lunch plans"),
        ("RE[2]: Fwd: AW: WG: SV: VS: Antw: Budget", "budget"),
        ("[kept-dev] Re: [PATCH] parser", "parser"),
        ("Fw:Re:Q3   numbers", "q3 numbers"),
        ("Regarding the rent", "regarding the rent"),
        ("", ""),
    ],
)
def test_normalize_subject(subject, expected):
    assert normalize_subject(subject) == expected


def test_trailing_contact_block_without_sign_off_is_cut():
    body = (
        "In the event that you need copies, please contact Karen at X33150.\n\n"
        "Travis Doe\nExample North America Corp.\n1400 Smith Street EB 824\n"
        "Houston, Texas 77002\nPhone:  (713) 555-1575\nFax:      (713) 555-8860\n"
    )
    assert clean_body(body) == "In the event that you need copies, please contact Karen at X33150."


def test_last_paragraph_with_a_number_in_a_sentence_is_kept():
    body = "See you there.\n\nMy new cell number is 713-555-0100, call me on it tonight."
    assert clean_body(body) == body


def test_a_message_that_is_only_a_phone_number_is_kept():
    assert clean_body("Jane Doe\n(713) 555-0100") == "Jane Doe\n(713) 555-0100"


def test_lotus_date_line_with_long_recipient_list_is_cut():
    recipients = "".join(f"Person {n}/HOU/ECT@ECT, \n" for n in range(30))
    body = (
        "I won't be able to attend.\n\nPhillip\n\n"
        "Brenda Doe@ENRON\n01/16/2001 04:40 PM\n"
        f"To: {recipients}cc: \nSubject: staff meeting\n\nold text\n"
    )
    assert clean_body(body) == "I won't be able to attend.\n\nPhillip"


def test_lotus_from_line_with_date_is_cut():
    body = (
        "Count me in.  --Sally\n\n\tEnron North America Corp.\n\n"
        "\tFrom:  Lexi Doe @ ENRON                           04/03/2001 05:10 PM\n\n"
        "To: Richard Roe/Corp/Enron@ENRON\ncc: \nSubject: recruiting\n\nold text\n"
    )
    assert clean_body(body) == "Count me in.  --Sally"


def test_lotus_header_flattened_on_one_line_is_cut():
    body = (
        "Any time after 1 pm works for me.\n\n"
        "\tRae Doe/ENRON@enronXgate 05/17/2001 02:07 PM \t   To: Gerald Roe/HOU/ECT@ECT  cc:   Subject: Meeting\n\n"
        "Can we meet?\n"
    )
    assert clean_body(body) == "Any time after 1 pm works for me."


def test_long_flattened_lotus_header_line_is_cut():
    body = "Fine by me.\n\n\tJulia Doe@ENRON Sent by: Carol Roe@ENRON 05/15/2001 03:59 PM \t   To: Alan Poe " + "x" * 500
    assert clean_body(body) == "Fine by me."


def test_company_and_from_date_on_one_line_is_cut():
    body = (
        "Count me in.\n\n\tEnron North America Corp.  From:  Lexi Doe @ ENRON          04/04/2001 03:44 PM\n\n"
        "To:\tRichard Roe/Corp/Enron@ENRON\ncc:\nSubject: x\n"
    )
    assert clean_body(body) == "Count me in."


def test_lotus_from_line_with_the_time_wrapped_onto_the_next_line_is_cut():
    body = (
        "Greg,  Will there be some small foods?\n\n\tEnron Capital & Trade Resources Corp.\n\n"
        '\tFrom:  "Greg Doe" <greg@example.net>                           07/26/99\n08:22 PM\n\n'
        "To: a@example.com, b@example.com\nSubject: wine tasting\n\nI will bring the wine.\n"
    )
    assert clean_body(body) == "Greg,  Will there be some small foods?"


def test_lotus_on_date_attribution_with_the_time_wrapped_is_cut():
    body = (
        "Thanks for these.  I will do invitations this weekend.  --Sally\n\n"
        '"Cindy Doe" <cindy@example.com> on 04/19/2001\n09:01:03 PM\n'
        "Please respond to x\nI will send the list.\n"
    )
    assert clean_body(body) == "Thanks for these.  I will do invitations this weekend.  --Sally"


def test_a_date_at_the_end_of_a_sentence_is_not_a_header():
    body = "I will send the lease by 07/26/99\n08:22 PM is when I leave.\n"
    assert clean_body(body) == body.strip()


def test_a_pasted_bounce_is_cut():
    body = (
        "Sorry, I'll resend it to your new address tonight.\n\n"
        "The original message was received at Mon, 8 Jan 2001 21:04:20 GMT\nfrom [172.28.10.38]\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n<andy@example.com>\n\n"
        "   ----- Original message follows -----\n\nI will be there this weekend.\n"
    )
    assert clean_body(body) == "Sorry, I'll resend it to your new address tonight."


def test_timed_chat_transcript_turns_are_dropped_with_their_wrapped_lines():
    body = (
        "I'll call him tomorrow.  See our chat below.\n\n"
        "lynn8464 (11:11:28 AM): I will send you the file tonight and we can go over the\n"
        "numbers tomorrow\n"
        "jdoe (11:12:02 AM): ok\n"
        "[11:13] Lynn Doe: I'll call you\n\n"
        "Thanks"
    )
    assert clean_body(body) == "I'll call him tomorrow.  See our chat below.\n\nThanks"


def test_untimed_chat_needs_two_speakers_taking_turns():
    chat = "Lynn: I will send the file tonight\nBob: ok thanks\nLynn: I'll call you tomorrow\nBob: sure\n"
    assert clean_body("Our chat:\n" + chat + "\nI will check.") == "Our chat:\n\nI will check."
    # Addressing several people once each, or a form with labels, is the author's own text.
    memo = "Anthony: I will send the budget.\nJenny: Can Ken finish today?\nMike: I will call you.\nSue: thanks\n"
    assert clean_body(memo) == memo.strip()
    itinerary = "Dinner: 7 pm at the Warwick\nTime: noon\nDinner: Versailles Room\nTime: 7 pm\n"
    assert clean_body(itinerary) == itinerary.strip()


def test_a_time_in_parentheses_in_prose_is_not_a_chat_turn():
    body = "We meet tomorrow (10:30 AM) in my office, and I will bring the draft.\n"
    assert clean_body(body) == body.strip()


@pytest.mark.parametrize(
    ("subject", "reply"),
    [
        ("RE: budget", True),
        ("Re[2]: budget", True),
        ("[EXTERNAL] RE: budget", True),
        ("[list] Fwd: budget", True),
        ("GAME @ 9 on Wed", False),
        ("Regarding Wednesday", False),
        ("[list] budget", False),
    ],
)
def test_is_reply_subject(subject: str, reply: bool) -> None:
    from kept.extractors.cleaning import is_reply_subject

    assert is_reply_subject(subject) is reply
