"""Finding the promises in the fresh text of sent mail.

The extractor works in four steps, each in a module of its own; this
module joins them (`PromiseExtractor`) and decides (`choose`):

1. **Sentences and prefilter.** The text is split into sentences with cheap
   regular expressions and only sentences with a first-person future cue
   ("I'll", "we will", "going to", "let's", a leading "Will ...") go on.
   Most sentences of mail have none, so the parser sees a small fraction.
   (`kept.extractors.promise_sentences`)
2. **Matching.** Candidate sentences are parsed with spaCy (`nlp.pipe`,
   batched across messages) and matched against patterns kept as data in
   ``patterns/promises.jsonl``. Each row has an ``id``, a ``label`` and a
   spaCy ``pattern``:

   * ``COMMIT`` rows find a first person taking on a future action
     ("I will send", "let me check", "we need to have lunch"); they mark
     the action verb (the dependency node named ``action``, or the token at
     index ``action`` for token patterns) and carry a ``confidence``;
   * ``NEG_*`` rows veto: a dependency veto cancels the commitment on the
     same action verb ("I will not send"), a token veto cancels every
     commitment in its sentence ("if you need anything", a question);
   * ``soft`` ``NEG_*`` rows (``"soft": true``) are the data-driven lists of
     stative, mental and whereabouts verbs ("I will be in Houston", "we
     will see", "I will need two originals"): they cancel a commitment only
     when no kind row names its action, so an idiom such as "I will be
     there!" (an RSVP) still counts;
   * ``hard`` ``NEG_*`` rows (``"hard": true``) veto their action outright,
     whatever the re-scorer would say: the writer's own itinerary and inbox
     ("I will arrive on Monday night", "I will check messages during
     breaks", "I will receive a copy"), which the re-scorer takes for
     promises;
   * rows labelled with a promise kind say what the action is; the first
     such row (in file order) starting at the action verb wins. An action
     verb no kind row names is still a commitment, of kind ``other``: any
     action verb a first person commits to is something someone could hold
     them to, so the lexicon decides the kind, never whether it is a promise.
     When a sentence has several commitments, one with a named kind is
     preferred over a fallback one, then the earliest.

   (`kept.extractors.promise_patterns`)

3. **Re-scoring.** Every ``COMMIT`` match is a candidate; what the other
   rows said about it (vetoes, kind rows, frames) becomes features of a
   logistic regression, with its subject, modal and frame words, the
   action verb, negation, questions, conditions, hedges and a small lemma
   window (`commitment_features`). The model is data,
   ``patterns/promise_model.json``, trained by
   ``training/train_promise_model.py`` and scored in plain Python
   (`kept.extractors.promise_scorer`);
   its probability is then combined with a second judgement of the whole
   sentence by a fine-tuned transformer (`kept.extractors.encoder`) into
   one calibrated probability (`kept.extractors.promise_combination`); a sentence is a
   promise when its best commitment's combined probability reaches the
   combination's threshold, and that probability is the confidence. Token vetoes on the whole sentence (a
   question mark, "if you need", quoted speech) stay hard. Without a model
   (``scorer=False``) the vetoes decide as described in step 2.
4. **Records.** Each sentence with an accepted commitment gives one
   `PromiseCandidate` with the action phrase, the kind, the named person and
   the due date (`kept.extractors.dates.resolve_due`)
   (`kept.extractors.promise_records`).

`run_extract_jsonl` is the ``kept extract --jsonl`` evaluation interface.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from kept.extractors.encoder import DEFAULT_RUNTIME, Runtime, SentenceClassifier, bundled_adapter, load_classifier
from kept.extractors.nlp import DEFAULT_MODEL, load_pipeline
from kept.extractors.promise_combination import PromiseCombination, file_sha256, load_combination, logit
from kept.extractors.promise_patterns import (
    Commitment,
    PatternError,
    PatternRow,
    PromiseMatcher,
    SentenceMatch,
    load_patterns,
)
from kept.extractors.promise_records import promise_record
from kept.extractors.promise_scorer import (
    FEATURES_VERSION,
    FLOOR_FEATURES,
    MODEL_FORMAT_VERSION,
    PromiseModel,
    PromiseModelError,
    commitment_features,
    load_model,
)
from kept.extractors.promise_sentences import _parse_text, candidate_sentences, split_sentences
from kept.models import PromiseCandidate

if TYPE_CHECKING:
    from spacy.tokens import Doc

__all__ = [
    "FEATURES_VERSION",
    "FLOOR_FEATURES",
    "MODEL_FORMAT_VERSION",
    "PARSE_BATCH_DOCS",
    "Commitment",
    "PatternError",
    "PatternRow",
    "PromiseCombination",
    "PromiseExtractor",
    "PromiseMatcher",
    "PromiseModel",
    "PromiseModelError",
    "SentenceMatch",
    "candidate_sentences",
    "choose",
    "commitment_features",
    "file_sha256",
    "load_combination",
    "load_model",
    "load_patterns",
    "logit",
    "run_extract_jsonl",
    "split_sentences",
]

logger = logging.getLogger(__name__)

#: Messages handled per chunk by `extract_many` and `run_extract_jsonl`: enough
#: candidate sentences for the encoder to batch them by length with little padding.
CHUNK_MESSAGES = 1024
#: Parsed candidate sentences judged together (see `PromiseExtractor._extract_chunk`).
JUDGE_DOCS = 1024
#: Candidate sentences spaCy parses at a time. Its tok2vec holds the
#: activations of a whole batch: at 256, its arrays were about 70 MB of the
#: peak of a real mailbox's scan (beck-s, 330 MB); 64 took 23 MB off that
#: peak at the same speed.
PARSE_BATCH_DOCS = 64


def choose(
    commitments: Sequence[Commitment], probabilities: Sequence[float], threshold: float
) -> list[SentenceMatch]:
    """The promise of each sentence the re-scorer accepts, in text order.

    A sentence is a promise when its most probable commitment reaches
    `threshold`; among its commitments that do, the first in
    `Commitment.order` names the action and kind (a named kind over the
    fallback, a complement over its frame), and the sentence's probability
    is its confidence.
    """
    best: dict[int, float] = {}
    for commitment, probability in zip(commitments, probabilities, strict=True):
        start = commitment.sentence.start
        best[start] = max(best.get(start, 0.0), probability)
    found: dict[int, SentenceMatch] = {}
    for commitment, probability in sorted(
        zip(commitments, probabilities, strict=True), key=lambda item: item[0].order()
    ):
        start = commitment.sentence.start
        if start in found or probability < threshold:
            continue
        found[start] = SentenceMatch(
            commitment.sentence, commitment.action, commitment.rule, *commitment.reported_kind, best[start]
        )
    return [found[start] for start in sorted(found)]


# --------------------------------------------------------------------------
# The extractor


class PromiseExtractor:
    """Finds promises in already-cleaned fresh text of sent mail.

    The spaCy pipeline is loaded once per process and shared between
    extractors; patterns and the re-scorer's model are read and validated
    when the extractor is made.

    :param model: spaCy pipeline package name.
    :param patterns: a JSONL pattern file; the bundled one by default.
    :param scorer: the re-scorer's model file (the bundled one by default),
        or False for the hand-written veto rules alone (a baseline for
        benchmarks).
    :param threshold: overrides the decision threshold.
    :param encoder: the fine-tuned sentence encoder's adapter file (the
        bundled one by default), or False to decide with the re-scorer
        alone. Used only with a re-scorer; its judgement and the
        re-scorer's are combined by `PromiseCombination`.
    :param combination: the combination file (the bundled one by default).
    :param runtime: what runs the encoder (`kept.extractors.encoder.RUNTIMES`).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        patterns: str | Path | None = None,
        scorer: str | Path | Literal[False] | None = None,
        threshold: float | None = None,
        encoder: str | Path | Literal[False] | None = None,
        combination: str | Path | None = None,
        runtime: Runtime = DEFAULT_RUNTIME,
    ) -> None:
        self.model = model
        self.nlp = load_pipeline(model)
        self.rows = load_patterns(patterns)
        self.matcher = PromiseMatcher(self.rows, self.nlp)
        self.scorer: PromiseModel | None = None if scorer is False else load_model(scorer)
        self.encoder: SentenceClassifier | None = None
        self.combination: PromiseCombination | None = None
        if self.scorer is not None and encoder is not False:
            self.encoder = load_classifier(encoder, runtime=runtime)
            self.combination = load_combination(combination, self.scorer.source, encoder or bundled_adapter())
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be from 0 to 1, not {threshold!r}")
        if threshold is not None:
            self.threshold = threshold
        elif self.combination is not None:
            self.threshold = self.combination.threshold
        else:
            self.threshold = self.scorer.threshold if self.scorer else 0.5

    def matches(self, doc: Doc) -> list[SentenceMatch]:
        """The promises of one parsed candidate text: the re-scorer's (and
        encoder's) choice, or the hand-written vetoes' without a model."""
        return self.judge([doc])[0]

    def judge(self, docs: Sequence[Doc]) -> list[list[SentenceMatch]]:
        """`matches` for many parsed candidate texts; the encoder runs once,
        batched, over every sentence that needs it."""
        if self.scorer is None:
            return [self.matcher.match(doc) for doc in docs]
        return [
            choose(found, probabilities, self.threshold) if found else []
            for found, probabilities in self.scores(docs)
        ]

    def scores(self, docs: Sequence[Doc]) -> list[tuple[list[Commitment], list[float]]]:
        """Each doc's rescorable commitments with the probability the
        decision uses: the re-scorer's, combined with the encoder's judgement
        of the doc's text (one candidate sentence) when there is an encoder.

        A commitment the encoder could not lift to the threshold whatever
        it said (`PromiseCombination.reachable`) gets its combined
        probability with the encoder's lowest score, without running it.
        """
        if self.scorer is None:
            raise ValueError("scores need a re-scorer")
        scorer = self.scorer
        per_doc = [self.matcher.rescorable(doc) for doc in docs]
        rule_probabilities = [[scorer.probability(commitment_features(c)) for c in found] for found in per_doc]
        combination, encoder = self.combination, self.encoder
        if combination is None or encoder is None:
            return list(zip(per_doc, rule_probabilities, strict=True))
        # The encoder judges the whole candidate sentence, as it was trained:
        # spaCy may split "If you need it, let me know and I will forward
        # it." in two, and "and I will forward it." alone is a promise.
        wanted: dict[int, str] = {}
        for number, probabilities in enumerate(rule_probabilities):
            if any(combination.reachable(probability, self.threshold) for probability in probabilities):
                wanted[number] = docs[number].text
        # Mail repeats itself (greetings, sign-offs, forwarded lines): each
        # distinct text is scored once.
        texts = list(dict.fromkeys(wanted.values()))
        by_text = dict(zip(texts, encoder.logits(texts), strict=True))
        results: list[tuple[list[Commitment], list[float]]] = []
        for number, (found, probabilities) in enumerate(zip(per_doc, rule_probabilities, strict=True)):
            combined = []
            text = wanted.get(number)
            for probability in probabilities:
                if text is None or not combination.reachable(probability, self.threshold):
                    combined.append(combination.probability(probability, -combination.encoder_clip))
                else:
                    combined.append(combination.probability(probability, by_text[text]))
            results.append((found, combined))
        return results

    def extract(self, text: str, sent_at: datetime | None = None) -> list[PromiseCandidate]:
        """The promises in one message's fresh text, in text order.

        :param text: cleaned fresh text (no quotes, no signature).
        :param sent_at: when it was sent; due dates are resolved against it
            and are None without it.
        """
        return next(self.extract_many([(text, sent_at)]))

    def extract_many(
        self, items: Iterable[tuple[str, datetime | None]], *, batch_size: int = PARSE_BATCH_DOCS
    ) -> Iterator[list[PromiseCandidate]]:
        """Like `extract` for many messages, parsing them in batches; order kept.

        Messages are consumed lazily, `CHUNK_MESSAGES` at a time, so memory
        stays flat over any number of messages.
        """
        chunk: list[tuple[str, datetime | None]] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= CHUNK_MESSAGES:
                yield from self._extract_chunk(chunk, batch_size)
                chunk = []
        if chunk:
            yield from self._extract_chunk(chunk, batch_size)

    def _extract_chunk(
        self, chunk: Sequence[tuple[str, datetime | None]], batch_size: int
    ) -> list[list[PromiseCandidate]]:
        jobs: list[tuple[int, str]] = []
        for index, (text, _sent_at) in enumerate(chunk):
            for sentence in candidate_sentences(text or ""):
                jobs.append((index, sentence))
        results: list[list[PromiseCandidate]] = [[] for _ in chunk]
        parsed = self.nlp.pipe((_parse_text(sentence) for _, sentence in jobs), batch_size=batch_size)
        # Judged JUDGE_DOCS at a time: enough for the encoder to batch by
        # length, and a bound on the parsed docs held however many candidate
        # sentences a chunk of (hostile) mail has.
        for start in range(0, len(jobs), JUDGE_DOCS):
            part = jobs[start : start + JUDGE_DOCS]
            docs = list(itertools.islice(parsed, len(part)))
            for (index, sentence), doc, matches in zip(part, docs, self.judge(docs), strict=True):
                sent_at = chunk[index][1]
                for found in matches:
                    results[index].append(promise_record(found, sentence, doc, sent_at))
        return results


# --------------------------------------------------------------------------
# kept extract --jsonl


def _parse_sent_at(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("'sent_at' must be an ISO 8601 string")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def _promise_json(candidate: PromiseCandidate) -> dict[str, Any]:
    due: date | None = candidate.due
    return {
        "sentence": candidate.sentence,
        "action": candidate.action,
        "kind": candidate.kind,
        "due": due.isoformat() if due is not None else None,
        "confidence": round(candidate.confidence, 3),
    }


def run_extract_jsonl(
    infile: TextIO,
    outfile: TextIO,
    *,
    model: str = DEFAULT_MODEL,
    clean: Callable[[str], str],
    extractor: PromiseExtractor | None = None,
    chunk_size: int = CHUNK_MESSAGES,
) -> int:
    """``kept extract --jsonl``: one JSON line of promises per JSON line of mail.

    Input lines are ``{"id": ..., "body": ..., "sent_at": ISO-8601}``
    (``sent_at`` optional); output lines, in input order, are
    ``{"id": ..., "promises": [{"sentence", "action", "kind", "due",
    "confidence"}]}``. A line that cannot be used (bad JSON, no body, a
    cleaning failure) gives ``{"id": ..., "promises": [], "error": ...}``
    and the run goes on. Blank lines are skipped. Lines are handled in
    chunks and the output is flushed after each, so memory stays flat.

    :param clean: turns a raw body into fresh text (the daemon's cleaning).
    :param extractor: an existing extractor to reuse; one is made from
        `model` otherwise.
    :returns: the number of lines answered.
    """
    extractor = extractor or PromiseExtractor(model)
    processed = 0
    chunk: list[str] = []

    def flush(lines: list[str]) -> None:
        records: list[dict[str, Any]] = []
        work: list[tuple[int, str, datetime | None]] = []
        for line in lines:
            record: dict[str, Any] = {"id": None, "promises": []}
            records.append(record)
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError("line is not a JSON object")
                record["id"] = item.get("id")
                body = item.get("body")
                if not isinstance(body, str):
                    raise ValueError("'body' must be a string")
                sent_at = _parse_sent_at(item.get("sent_at"))
                work.append((len(records) - 1, clean(body), sent_at))
            except Exception as exc:  # one bad line must never end the run
                record["error"] = f"{type(exc).__name__}: {exc}"[:300]
        try:
            outputs = list(extractor.extract_many((text, sent_at) for _, text, sent_at in work))
        except Exception:
            logger.warning("extraction of a chunk failed; retrying its messages one by one", exc_info=True)
            outputs = []
            for position, text, sent_at in work:
                try:
                    outputs.append(extractor.extract(text, sent_at))
                except Exception as exc:
                    outputs.append([])
                    records[position]["error"] = f"{type(exc).__name__}: {exc}"[:300]
        for (position, _, _), promises in zip(work, outputs, strict=True):
            records[position]["promises"] = [_promise_json(candidate) for candidate in promises]
        for record in records:
            outfile.write(json.dumps(record, ensure_ascii=False) + "\n")
        outfile.flush()

    for line in infile:
        if not line.strip():
            continue
        chunk.append(line)
        if len(chunk) >= chunk_size:
            flush(chunk)
            processed += len(chunk)
            chunk = []
    if chunk:
        flush(chunk)
        processed += len(chunk)
    return processed
