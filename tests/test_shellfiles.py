"""Shell completion and the man page (kept.shellfiles) cover every command of the parser."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kept import shellfiles
from kept.cli import build_parser

# A floor, so that a parser that lost its commands cannot pass by agreeing with itself.
KNOWN_COMMANDS = {"init", "check", "scan", "run", "status", "threads", "promises", "digest", "export", "forget"}


def commands() -> dict[str, argparse.ArgumentParser]:
    """Every sub-command of `kept` and its parser."""
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def action_choices(parser: argparse.ArgumentParser) -> list[str]:
    """The choices of the command's ACTION positional (done, snooze, ...), if it has one."""
    return [c for a in parser._actions if not a.option_strings and a.choices for c in a.choices]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    prefix = tmp_path_factory.mktemp("prefix")
    shellfiles.main(["--prefix", str(prefix)])
    return {
        "bash": prefix / "share/bash-completion/completions/kept",
        "zsh": prefix / "share/zsh/site-functions/_kept",
        "man": prefix / "share/man/man1/kept.1",
    }


def test_the_parser_has_the_known_commands():
    assert KNOWN_COMMANDS <= set(commands())


def bash_complete(script: Path, *words: str) -> list[str]:
    """What bash offers after `kept WORDS...` (the last word being completed), from the generated script."""
    line = " ".join(["kept", *words])
    program = (
        f'source "{script}"\n'
        f"COMP_WORDS=(kept {' '.join(shlex.quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words)}\nCOMP_LINE={shlex.quote(line)}\nCOMP_POINT={len(line)}\n"
        "_shtab_kept kept\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "--norc", "--noprofile"], input=program, capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_every_command_and_its_actions(written):
    assert set(bash_complete(written["bash"], "")) == set(commands())
    assert bash_complete(written["bash"], "pro") == ["promises"]
    for name, parser in commands().items():
        if action_choices(parser):
            assert bash_complete(written["bash"], name, "") == action_choices(parser), name


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_file_names_after_config(written, tmp_path):
    (tmp_path / "kept-config.toml").write_text("")
    assert bash_complete(written["bash"], "--config", str(tmp_path / "kept-c")) == [str(tmp_path / "kept-config.toml")]
    assert bash_complete(written["bash"], "status", "--config", str(tmp_path / "kept-c")) == [
        str(tmp_path / "kept-config.toml")]


def test_zsh_completion_names_every_command(written):
    text = written["zsh"].read_text()
    assert text.startswith("#compdef kept\n")
    block = re.search(r"_shtab_kept_commands\(\) \{\n  local _commands=\(\n(.*?)\n  \)", text, re.S)
    assert block is not None
    assert {line.strip().split(":", 1)[0] for line in block.group(1).splitlines()} == set(commands())
    for name, parser in commands().items():
        if action_choices(parser):
            options = re.search(rf"^_shtab_kept_{name}_options=\((.*?)^\)", text, re.S | re.M)
            assert options is not None, name
            assert f":({' '.join(action_choices(parser))})" in options.group(1), name


def plain_roff(text: str) -> str:
    """The man page's words without roff font changes and escapes."""
    text = re.sub(r"\\f[BIRP]|\\[,/]", "", text)
    return text.replace("\\-", "-")


def test_man_page_has_a_section_for_every_command(written):
    page = plain_roff(written["man"].read_text())
    assert page.startswith('.TH KEPT "1"')
    assert "kept - finds the promises you make by email" in page
    sections = set(re.findall(r"^\.SH COMMAND 'kept (\S+)'$", page, re.M))
    assert sections == set(commands())
    for name, parser in commands().items():
        # Each command's own options are there, after its heading.
        own = page.split(f".SH COMMAND 'kept {name}'", 1)[1].split(".SH COMMAND", 1)[0]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue  # argparse-manpage leaves out -h/--help
            for option in action.option_strings:
                assert option in own, (name, option)


@pytest.mark.skipif(shutil.which("man") is None, reason="needs man")
def test_man_renders_the_page(written):
    done = subprocess.run(["man", "-l", str(written["man"])], capture_output=True, text=True,
                          env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin", "MAN_KEEP_FORMATTING": "0"})
    assert done.returncode == 0, done.stderr
    for name in commands():
        assert f"kept {name}" in done.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_global_options_are_completed_and_documented_before_and_after_the_command(written):
    """-q/--quiet (warnings and errors only) and -v go on either side of the command name."""
    for option in ("--quiet", "--verbose"):
        assert option in bash_complete(written["bash"], "--")
        assert option in bash_complete(written["bash"], "scan", "--")
    page = plain_roff(written["man"].read_text())
    assert "[-v] [-q]" in page.split(".SH DESCRIPTION", 1)[0]
    scan = page.split(".SH COMMAND 'kept scan'", 1)[1].split(".SH COMMAND", 1)[0]
    assert "-q, --quiet\nwarnings and errors only" in scan
