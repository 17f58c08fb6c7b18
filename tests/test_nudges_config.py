"""The [nudges] section: defaults, typed values and every problem listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kept.config import load_settings, parse_settings
from kept.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

BASE = {
    "kept": {"addresses": ["me@home.example"]},
    "accounts": {"local": {"type": "maildir", "path": "/tmp/Mail"}},
}


def parse(nudges: dict):
    return parse_settings({**BASE, "nudges": nudges}, Path("/tmp/config.toml"))


def problems_of(nudges: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(nudges)
    return caught.value.problems


def test_defaults_without_a_section():
    settings = parse_settings(dict(BASE), Path("/tmp/config.toml"))
    assert settings.nudges.enabled
    assert settings.nudges.introductions.follow_up_after_days == 7
    assert settings.nudges.keep_in_touch.factor == 2.0
    assert settings.nudges.keep_in_touch.min_silence_days == 30
    assert settings.nudges.thanks.thank_within_days == 3


def test_example_config_documents_the_section(tmp_path):
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8").replace("you@example.com", "me@home.example")
    (tmp_path / "config.toml").write_text(example, encoding="utf-8")
    settings = load_settings(tmp_path / "config.toml")
    assert settings.nudges.keep_in_touch.min_exchanges == 4
    assert settings.nudges.thanks.report_back_after_days == 30


def test_values_become_typed_settings():
    settings = parse({
        "enabled": True,
        "introductions": {"follow_up_after_days": 10, "no_recent_contact_days": 21},
        "keep_in_touch": {
            "factor": 3, "min_silence_days": 45, "cadence": {"Anna@X.org": 14, "@example.org": 30},
            "tags": {"family": ["mum@x.org", "Family.example"]}, "tag_cadence": {"family": 14},
            "exclude": ["Boss@Corp.example"],
        },
        "thanks": {"enabled": False, "report_back_after_days": 20},
    })
    touch = settings.nudges.keep_in_touch
    assert settings.nudges.introductions.follow_up_after_days == 10
    assert touch.factor == 3.0 and isinstance(touch.factor, float)
    assert touch.cadence == {"anna@x.org": 14, "example.org": 30}
    assert touch.tags == {"family": ("mum@x.org", "family.example")}
    assert touch.tag_cadence == {"family": 14}
    assert touch.exclude == ("boss@corp.example",)
    assert not settings.nudges.thanks.enabled
    assert settings.nudges.thanks.report_back_after_days == 20


def test_every_problem_is_listed_with_its_place():
    problems = problems_of({
        "enabeld": True,
        "introductions": {"follow_up_after_day": 7, "no_recent_contact_days": 0},
        "keep_in_touch": {
            "factor": 0.5, "cadence": {"not an address": 14, "anna@x.org": "two weeks"},
            "tags": {"family": "mum@x.org"}, "tag_cadence": {"famly": 14}, "exclude": ["nobody"],
        },
        "thanks": {"thank_within_days": True},
    })
    text = "\n".join(problems)
    assert "[nudges] key 'enabeld': unknown key; did you mean 'enabled'?" in text
    assert "[nudges.introductions] key 'follow_up_after_day': unknown key; did you mean 'follow_up_after_days'?" in text
    assert "[nudges.introductions] key 'no_recent_contact_days' = 0" in text
    assert "[nudges.keep_in_touch] key 'factor' = 0.5: must be 1.0 or more" in text
    assert "[nudges.keep_in_touch.cadence] key 'not an address'" in text
    assert "[nudges.keep_in_touch.cadence] key 'anna@x.org' = 'two weeks'" in text
    assert "[nudges.keep_in_touch.tags] key 'family'" in text
    assert "[nudges.keep_in_touch.tag_cadence] key 'famly': unknown tag" in text
    assert "'nobody' is neither an e-mail address nor a domain" in text
    assert "[nudges.thanks] key 'thank_within_days' = True: must be a whole number" in text
    assert len(problems) == 10


def test_misspelled_section_is_suggested():
    with pytest.raises(ConfigError) as caught:
        parse_settings({**BASE, "nudge": {}}, Path("/tmp/config.toml"))
    assert any("did you mean [nudges]?" in p for p in caught.value.problems)
