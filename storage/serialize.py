"""Records to JSON documents and back.

Stores keep records as plain JSON values: datetimes become ISO 8601 strings
(with their UTC offset when they have one), dates ISO dates, tuples lists and
an `Address` the object ``{"name": ..., "email": ...}``. A `MailMessage`
loses its body on the way (stores never hold mail bodies).

The conversion is driven by each record's type hints rather than written out
field by field, so a field added to a record later (always with a default)
is stored without touching this module, and documents written before the
field existed still load: missing keys take the field's default, unknown
keys are ignored.

A `ThreadMessage`'s fields that hold their default (no Cc, not automated,
no question, ...) are left out of its document (`_OMITTED_DEFAULTS`):
that is a quarter of the threads' text, which the main file holds in
memory and the digest decodes whole.

Round trips are exact: ``from_json(type(r), to_json(r)) == r`` for every
`MailMessage` with an empty body, `Thread` and `Promise`. A naive datetime
(such as the epoch fallback ``datetime(1970, 1, 1)``) stays naive, since
inventing an offset for it would change the value.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar, cast

from kept.models import Address, Introduction, Lead, MailMessage, Promise, Thread, ThreadMessage

__all__ = ["from_json", "thread_document_in_full", "to_json"]

R = TypeVar("R")

_Encoder = Callable[[Any], Any]
_Decoder = Callable[[Any], Any]

#: Fields never written to a store, by record type.
_DROPPED_FIELDS: dict[type, frozenset[str]] = {MailMessage: frozenset({"body_text"})}

#: Text fields (``str`` or ``tuple[str, ...]``) whose few distinct values
#: repeat across many records: the compiled decoders (`_compiled_decoder`)
#: give every equal value one shared string (`sys.intern`) and every equal
#: tuple of them one tuple. At 200,000 messages the threads held 200,000
#: copies each of "sent"/"received", of 5,000 senders and of their
#: recipients: 60 MB of the digest's peak memory.
_SHARED_FIELDS: dict[type, frozenset[str]] = {
    ThreadMessage: frozenset({"role", "sender", "to", "cc", "addressed"}),
    Thread: frozenset({"account", "status"}),
    Promise: frozenset({"account", "status", "counterparties"}),
}

#: Record types whose fields are left out of their documents when they hold
#: their default (a missing field decodes to it). Only records that no code
#: reads as raw documents: the threads' messages, which the thread index
#: reads for their Message-IDs alone (required, so always written), and
#: which ``kept export`` writes in full (`thread_document_in_full`).
_OMITTED_DEFAULTS: dict[type, dict[str, Any]] = {
    cls: {
        record_field.name: record_field.default
        for record_field in dataclasses.fields(cls)
        if record_field.default is not dataclasses.MISSING
    }
    for cls in (ThreadMessage,)
}

#: Distinct tuples of shared strings: the first of equal tuples, kept while
#: the process reads records (a few thousand tuples of addresses). Bounded:
#: past the bound the tuples read longest ago are let go, and equal ones
#: read later get a tuple of their own.
_shared_tuple: Callable[[tuple[str, ...]], tuple[str, ...]] = functools.lru_cache(maxsize=16384)(lambda value: value)


def _identity(value: Any) -> Any:
    return value


def _encode_datetime(value: datetime) -> str:
    return value.isoformat()


def _decode_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _encode_date(value: date) -> str:
    return value.isoformat()


def _decode_date(value: str) -> date:
    return date.fromisoformat(value)


def _optional(encode: _Encoder) -> _Encoder:
    def convert(value: Any) -> Any:
        return None if value is None else encode(value)

    _STEPS[convert] = ("optional", encode)
    return convert


def _sequence(convert_item: _Encoder, make: Callable[[Any], Any]) -> _Encoder:
    def convert(values: Any) -> Any:
        return make(convert_item(item) for item in values)

    if make is tuple:  # a decoder: `_compiled_decoder` writes it out
        _STEPS[convert] = ("sequence", convert_item)
    return convert


def _converters_for(hint: Any) -> tuple[_Encoder, _Decoder]:
    """The (encode, decode) pair for values of one annotated type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) == 1:
            encode, decode = _converters_for(members[0])
            return _optional(encode), _optional(decode)
        # A union of several concrete types cannot be told apart after a
        # JSON round trip; such fields must hold JSON values already.
        return _identity, _identity
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            encode, decode = _converters_for(args[0])
            return _sequence(encode, list), _sequence(decode, tuple)
        return _identity, tuple
    if origin is typing.Literal:
        return _identity, _identity
    if hint is datetime:
        return _encode_datetime, _decode_datetime
    if hint is date:
        return _encode_date, _decode_date
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return to_json, functools.partial(from_json, hint)
    # str, int, float, bool, dict/list of JSON values, Any.
    return _identity, _identity


#: One stored field of a record type: name, encoder, decoder, required.
_FieldPlan = tuple[tuple[str, _Encoder, _Decoder, bool], ...]

_PLANS: dict[type, _FieldPlan] = {}


def _field_plan(cls: type) -> _FieldPlan:
    """For each stored field of `cls`: name, encoder, decoder, required (made once per type)."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _make_field_plan(cls)
    return plan


def _make_field_plan(cls: type) -> _FieldPlan:
    """The plan `_field_plan` returns for `cls`, made from its type hints."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"not a record type: {cls!r}")
    hints = typing.get_type_hints(cls)
    dropped = _DROPPED_FIELDS.get(cls, frozenset())
    plan = []
    for record_field in dataclasses.fields(cls):
        if record_field.name in dropped:
            continue
        encode, decode = _converters_for(hints[record_field.name])
        required = (
            record_field.default is dataclasses.MISSING
            and record_field.default_factory is dataclasses.MISSING
        )
        plan.append((record_field.name, encode, decode, required))
    return tuple(plan)


def to_json(record: Any) -> dict[str, Any]:
    """The JSON document for a record (`MailMessage`, `Thread`, `Promise`,
    or any record they contain, such as `Address` and `ThreadMessage`).

    :raises TypeError: if `record` is not a record.
    """
    cls = type(record)
    defaults = _OMITTED_DEFAULTS.get(cls)
    if defaults is None:
        return {name: encode(getattr(record, name)) for name, encode, _, _ in _field_plan(cls)}
    document = {}
    for name, encode, _, _ in _field_plan(cls):
        value = getattr(record, name)
        if name in defaults and type(value) is type(defaults[name]) and value == defaults[name]:
            continue
        document[name] = encode(value)
    return document


def thread_document_in_full(document: dict[str, Any]) -> dict[str, Any]:
    """A stored thread's document with every field of its messages, those left out at their default filled in.

    For ``kept export``, whose output has one shape however long ago each
    thread was written. Fields are in the record's order; anything else in a
    message document (written by a newer kept) follows as it is.
    """
    messages = document.get("messages")
    if not isinstance(messages, list):
        return document
    plan = _field_plan(ThreadMessage)
    defaults = _OMITTED_DEFAULTS[ThreadMessage]
    whole_messages: list[Any] = []
    for message in messages:
        if not isinstance(message, dict):
            whole_messages.append(message)
            continue
        whole: dict[str, Any] = {}
        for name, encode, _, _ in plan:
            if name in message:
                whole[name] = message[name]
            elif name in defaults:
                whole[name] = encode(defaults[name])
        whole.update((key, value) for key, value in message.items() if key not in whole)
        whole_messages.append(whole)
    return {**document, "messages": whole_messages}


def from_json(cls: type[R], document: dict[str, Any]) -> R:
    """The record of type `cls` that `document` (from `to_json`) describes.

    Decoded by the record type's compiled decoder (`_compiled_decoder`);
    a document it cannot read is read again by `_read_by_plan`, which says
    what is wrong with it.

    :raises ValueError: if the document lacks a required field or holds a
        value of the wrong shape (a damaged store).
    """
    decode = _DECODERS.get(cls)
    if decode is None:
        decode = _DECODERS[cls] = _compiled_decoder(cls)
    try:
        return cast(R, decode(document))
    except Exception:  # noqa: BLE001 - whatever it is, the plan's reading reports it
        return _read_by_plan(cls, document)


def _read_by_plan(cls: type[R], document: dict[str, Any]) -> R:
    """`from_json` field by field through the record's plan, each failure reported as a `ValueError`.

    :raises ValueError: as `from_json`.
    """
    if not isinstance(document, dict):
        raise ValueError(f"{cls.__name__} document is not an object: {document!r}")
    values = {}
    for name, _, decode, required in _field_plan(cls):
        if name in document:
            try:
                values[name] = decode(document[name])
            except (TypeError, ValueError, AttributeError, KeyError) as error:
                raise ValueError(f"{cls.__name__}.{name}: unreadable value {document[name]!r}: {error}") from error
        elif required:
            raise ValueError(f"{cls.__name__} document lacks the field {name!r}")
    return cls(**values)


#: Record type -> its compiled decoder (`_compiled_decoder`).
_DECODERS: dict[type, Callable[[Any], Any]] = {}


def _compiled_decoder(cls: type) -> Callable[[Any], Any]:
    """A function that reads a well-formed document of `cls` as `_read_by_plan` does, with less work per field.

    Reading every thread for the digest (68,000 threads of 200,000
    messages) spent most of its time in the plan's generic steps: a call
    per field even where the value is kept as it is, a generator per
    sequence, a partial per nested record. The compiled function is
    written out from the same plan, the way `dataclasses` writes
    ``__init__``: one line per field, the same conversions
    (`datetime.fromisoformat`, `tuple`, the nested record's own compiled
    decoder), a missing optional field left to its default. It raises on
    anything unexpected (a document that is not a dict, a missing
    required field, a value a conversion refuses); `from_json` then reads
    the document by the plan, which gives the same record or the error.
    """
    names: dict[str, Any] = {
        "_cls": cls, "_dict": dict, "_tuple": tuple, "_intern": sys.intern, "_shared_tuple": _shared_tuple,
    }
    defaults = {record_field.name: record_field for record_field in dataclasses.fields(cls)}
    shared = _SHARED_FIELDS.get(cls, frozenset())
    arguments = []
    for number, (name, _, decode, required) in enumerate(_field_plan(cls)):
        expression = _decode_expression(decode, f"document[{name!r}]", names, number)
        if name in shared:
            expression = _shared_expression(expression, f"document[{name!r}]")
        if not required:
            # What the record's __init__ would take when the field is left out.
            default = defaults[name]
            if default.default_factory is not dataclasses.MISSING:
                names[f"_default_{number}"] = default.default_factory
                fallback = f"_default_{number}()"
            else:
                names[f"_default_{number}"] = default.default
                fallback = f"_default_{number}"
            expression = f"({expression} if {name!r} in document else {fallback})"
        arguments.append(f"        {name}={expression},")
    text = "\n".join([
        "def decode(document):",
        "    if type(document) is not _dict:",
        "        raise TypeError(document)",
        "    return _cls(",
        *arguments,
        "    )",
    ])
    exec(text, names)  # noqa: S102 - the text is made here from the record's own field names
    return cast(Callable[[Any], Any], names["decode"])


def _shared_expression(expression: str, value: str) -> str:
    """`expression` (a ``str`` kept as it is, or ``tuple[str, ...]`` made by `tuple`) reading to shared values.

    `sys.intern` refuses anything but a string, so a damaged document
    raises here and is read again by the plan, as any other.
    """
    if expression == value:
        return f"_intern({value})"
    if expression == f"_tuple({value})":
        return f"_shared_tuple(_tuple([_intern(item) for item in {value}]))"
    raise TypeError(f"cannot share the values of {value}: not text")


def _decode_expression(decode: _Decoder, value: str, names: dict[str, Any], number: int) -> str:
    """Python text that converts `value` as the plan's `decode` does, naming what it calls in `names`."""
    if decode is _identity:
        return value
    if decode is tuple:
        return f"_tuple({value})"
    steps = _STEPS.get(decode)
    if steps is not None:
        kind, inner = steps
        inner_text = _decode_expression(inner, "item" if kind == "sequence" else value, names, number * 100 + 1)
        if kind == "optional":
            # `value` is a subscript of the document: read twice, it is the same value.
            return f"(None if {value} is None else {inner_text})"
        if inner_text == "item":
            return f"_tuple({value})"
        return f"_tuple([{inner_text} for item in {value}])"
    if isinstance(decode, functools.partial) and decode.func is from_json:
        record = decode.args[0]
        nested = _DECODERS.get(record)
        if nested is None:
            nested = _DECODERS[record] = _compiled_decoder(record)
        names[f"_decode_{number}"] = nested
        return f"_decode_{number}({value})"
    # The plan's own steps that only call a constructor are written as the call (one call less each).
    names[f"_decode_{number}"] = _DIRECT.get(decode, decode)
    return f"_decode_{number}({value})"


#: Decoders that only call another function, and that function.
_DIRECT: dict[Any, Callable[[Any], Any]] = {_decode_datetime: datetime.fromisoformat, _decode_date: date.fromisoformat}

#: The plan's wrapping decoders, by what they wrap: ``("optional" | "sequence", inner decoder)``.
_STEPS: dict[Any, tuple[str, _Decoder]] = {}


# Make the common records' plans up front, so a typo in a model's annotation
# shows up at import time rather than in the middle of a scan.
for _record_type in (Address, ThreadMessage, MailMessage, Thread, Promise, Introduction, Lead):
    _field_plan(_record_type)
del _record_type
