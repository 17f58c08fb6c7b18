"""spaCy imported without its command-line interface (`kept.extractors.nlp.import_spacy`),
and the shipped pipeline loaded without reading its saved tokenizer.

The import tests run in a fresh interpreter: the pytest process has spaCy
imported already, and an imported spaCy is returned as it is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from kept.extractors.nlp import DEFAULT_TOKENIZER_PIPELINES, UNUSED_PIPES, _excluded, import_spacy, load_pipeline

CLI_ONLY = ("typer", "requests", "weasel", "rich", "spacy.cli")


def run_fresh(code: str) -> dict[str, object]:
    """Run `code` in a new interpreter; what it printed as JSON on its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_loaded_pipeline_has_not_imported_the_cli_and_parses() -> None:
    found = run_fresh(
        f"""
        import json, sys
        from kept.extractors.nlp import load_pipeline
        nlp = load_pipeline()
        doc = nlp("I will send you the report tomorrow.")
        print(json.dumps({{
            "imported": [name for name in {CLI_ONLY!r} if name in sys.modules],
            "deps": [token.dep_ for token in doc],
            "stand_ins_left": [n for n, m in sys.modules.items() if "stand-in" in (m.__doc__ or "")],
        }}))
        """
    )
    assert found["imported"] == []
    assert found["stand_ins_left"] == []
    assert found["deps"][:3] == ["nsubj", "aux", "ROOT"]


def test_the_real_cli_and_spacy_info_still_work_afterwards() -> None:
    found = run_fresh(
        """
        import json
        from kept.extractors.nlp import import_spacy
        spacy = import_spacy()
        info = spacy.info()
        import spacy.cli
        from spacy.cli import info as cli_info
        print(json.dumps({
            "info_keys": sorted(info),
            "cli_file": spacy.cli.__file__,
            "has_download": hasattr(spacy.cli, "download"),
            "same": import_spacy() is spacy,
        }))
        """
    )
    assert "spacy_version" in found["info_keys"]
    assert str(found["cli_file"]).endswith("spacy/cli/__init__.py")
    assert found["has_download"] is True
    assert found["same"] is True


def test_a_spacy_imported_before_is_returned_as_it_is() -> None:
    found = run_fresh(
        """
        import json, sys
        import spacy
        from kept.extractors.nlp import import_spacy
        print(json.dumps({"same": import_spacy() is spacy, "cli": "spacy.cli" in sys.modules}))
        """
    )
    assert found == {"same": True, "cli": True}


def test_a_spacy_that_needs_more_of_its_cli_is_imported_whole() -> None:
    # A later spaCy might import more than `info` from its CLI at import
    # time; simulated by a stand-in that lacks `info`, which fails the import.
    found = run_fresh(
        """
        import json, sys
        import kept.extractors.nlp as nlp
        original = nlp._cli_stand_ins
        def lacking():
            modules = original()
            del modules["spacy.cli.info"].info
            return modules
        nlp._cli_stand_ins = lacking
        spacy = nlp.import_spacy()
        doc = nlp.load_pipeline()("We will call you.")
        print(json.dumps({"cli": "spacy.cli" in sys.modules, "real": hasattr(sys.modules["spacy.cli"], "download"),
                          "tokens": len(doc)}))
        """
    )
    assert found == {"cli": True, "real": True, "tokens": 5}


@pytest.mark.parametrize(("name", "version"), sorted(DEFAULT_TOKENIZER_PIPELINES))
def test_a_pipeline_loaded_without_its_saved_tokenizer_tokenizes_as_with_it(name: str, version: str) -> None:
    # The tokenizer spaCy builds from the language's rules must be the saved one,
    # byte for byte; a pipeline version with its own special cases fails here.
    # (The vocab's strings, which grow with every text read, are compared apart.)
    spacy = import_spacy()
    assert spacy.util.get_package_version(name) == version
    whole = spacy.load(name, exclude=list(UNUSED_PIPES))
    loaded = load_pipeline(name)
    assert "tokenizer" in _excluded(spacy, name)
    assert loaded.tokenizer.to_bytes(exclude=["vocab"]) == whole.tokenizer.to_bytes(exclude=["vocab"])
    text = "Dr. Smith's e.g. 4:00 p.m. U.S. don't can't 3:00pm http://x.com/a?b=c :) I'll fax it to Ms. Patrick."
    assert [t.text for t in loaded(text)] == [t.text for t in whole(text)]
    assert [t.dep_ for t in loaded(text)] == [t.dep_ for t in whole(text)]


def test_other_pipelines_and_versions_load_their_saved_tokenizer() -> None:
    spacy = import_spacy()
    assert "tokenizer" not in _excluded(spacy, "/some/folder/of/a/custom/pipeline")
    assert "tokenizer" not in _excluded(spacy, "en_core_web_md")


def test_another_version_of_the_shipped_pipeline_loads_its_saved_tokenizer(monkeypatch: pytest.MonkeyPatch) -> None:
    import kept.extractors.nlp as nlp

    spacy = import_spacy()
    [(name, _)] = DEFAULT_TOKENIZER_PIPELINES
    monkeypatch.setattr(nlp, "DEFAULT_TOKENIZER_PIPELINES", frozenset({(name, "0.0.1")}))
    assert "tokenizer" not in _excluded(spacy, name)
