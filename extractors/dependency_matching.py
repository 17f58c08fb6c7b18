"""spaCy's dependency matcher, finding each distinct node pattern once per document.

spaCy's `DependencyMatcher` adds every node of every pattern to one token
`Matcher` under a key of its own, then walks the tree from each match to its
root. kept's promise rows repeat the same nodes over and over (``I``/``we``
as subject in 22 of 208 nodes, "will"/"'ll" in 14, the any-token node in 11):
the 208 nodes of its 68 dependency rows are 115 distinct ones.
`NodeSharingDependencyMatcher` runs one `Matcher` of the distinct nodes,
finds each matched token's root once, and hands every position to all the
inner keys that share the node: the same matches, in the same order, as
spaCy's own (``tests/test_dependency_matching.py`` checks that on labelled
sentences and on random trees and patterns; it was so for every candidate
sentence of the Enron mail in ``../shared``). On the 2,500 candidate
sentences of the three Enron dev mailboxes' sent mail it took 1.6-2.6 s
instead of 2.7-3.3 s, and ``kept extract`` ran 3-10 % faster in
alternating runs on a quiet machine (docs/benchmarks.md).

Everything else (adding patterns, validating them, checking the tree
relations) is spaCy's. A pattern changed after it was added matches as it
was added, as with spaCy's own (whose inner matcher compiles the nodes;
this class copies them).
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from typing import Any

from spacy.matcher import DependencyMatcher, Matcher
from spacy.tokens import Doc

__all__ = ["NodeSharingDependencyMatcher"]


def _identity(attributes: Any) -> str | None:
    """A string naming what a node matches, or None for a node that is not
    plain JSON (such a node is matched on its own, never shared)."""

    def plain(value: Any) -> bool:
        if isinstance(value, dict):
            return all(isinstance(key, str) and plain(item) for key, item in value.items())
        if isinstance(value, list):
            return all(plain(item) for item in value)
        return value is None or isinstance(value, (str, int, float, bool))

    # Key order is kept (not sorted): two orders of one node are matched
    # apart, which costs a little sharing and never changes a match.
    return json.dumps(attributes) if plain(attributes) else None


class NodeSharingDependencyMatcher(DependencyMatcher):
    """A `DependencyMatcher` that matches each distinct node pattern once.

    :param vocab: the vocabulary of the documents it will match.
    :param validate: validate patterns as they are added (spaCy's option).
    """

    def __init__(self, vocab: Any, *, validate: bool = False) -> None:
        super().__init__(vocab, validate=validate)
        # Every node added, in the order spaCy's inner matcher has them:
        # (the rule's key, a copy of the node's attributes, its inner key).
        self._nodes: list[tuple[Any, dict[str, Any], Any]] = []
        # Built at the first match after a change: the matcher of distinct
        # nodes, and for each of its keys the inner keys sharing that node.
        self._shared: tuple[Matcher, dict[int, list[Any]]] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickle, (self.vocab, dict(self._raw_patterns), dict(self._callbacks)))

    def add(self, key: Any, patterns: list[Any], *, on_match: Any = None) -> None:
        """Add patterns under `key`, as spaCy's `DependencyMatcher.add`."""
        try:
            super().add(key, patterns, on_match=on_match)
            if patterns:
                rule = self._rule_key(key)
                added = self._tokens_to_key[rule][-len(patterns):]
                for pattern, inner_keys in zip(patterns, added, strict=True):
                    for node, inner_key in zip(pattern, inner_keys, strict=True):
                        self._nodes.append((rule, copy.deepcopy(node["RIGHT_ATTRS"]), inner_key))
        finally:
            self._shared = None

    def remove(self, key: Any) -> None:
        """Remove the patterns under `key`, as spaCy's `DependencyMatcher.remove`."""
        try:
            super().remove(key)
            rule = self._rule_key(key)
            self._nodes = [node for node in self._nodes if node[0] != rule]
        finally:
            self._shared = None

    def _rule_key(self, key: Any) -> Any:
        """`key` as spaCy files a rule under it (its ``_normalize_key``, missing from its stubs)."""
        return self.vocab.strings.add(key) if isinstance(key, str) else key

    def _shared_nodes(self) -> tuple[Matcher, dict[int, list[Any]]]:
        if self._shared is None:
            matcher = Matcher(self.vocab)  # each node was validated when it was added
            sharing: dict[int, list[Any]] = {}
            shared_key_of: dict[str, int] = {}
            for _rule, attributes, inner_key in self._nodes:
                identity = _identity(attributes)
                shared_key = shared_key_of.get(identity) if identity is not None else None
                if shared_key is None:
                    # Matcher keys of its own, plain numbers: nothing goes into the shared vocabulary.
                    shared_key = len(sharing) + 1
                    matcher.add(shared_key, [[attributes]])
                    sharing[shared_key] = []
                    if identity is not None:
                        shared_key_of[identity] = shared_key
                sharing[shared_key].append(inner_key)
            self._shared = (matcher, sharing)
        return self._shared

    def _get_keys_to_position_maps(self, doc: Doc) -> defaultdict[Any, defaultdict[Any, list[int]]]:
        """The same map as spaCy's `_get_keys_to_position_maps` (root -> inner
        key -> positions), but each distinct node is matched once and its
        positions go to every inner key that shares it."""
        matcher, sharing = self._shared_nodes()
        keys_to_position_maps: defaultdict[Any, defaultdict[Any, list[int]]] = defaultdict(lambda: defaultdict(list))
        roots: dict[int, int] = {}
        # The distinct nodes are in the matcher in the order of their first
        # inner key in spaCy's, so its matches (by token, then by the order
        # nodes were added) put roots and positions in spaCy's order.
        # Every match is one token: spaCy refuses "OP" in a dependency node.
        for shared_key, start, _end in matcher(doc):
            root = roots.get(start)
            if root is None:
                token = doc[start]
                root = roots[start] = ([token, *token.ancestors])[-1].i
            by_key = keys_to_position_maps[root]
            for inner_key in sharing[shared_key]:
                by_key[inner_key].append(start)
        return keys_to_position_maps


def _unpickle(vocab: Any, patterns: dict[Any, list[Any]], callbacks: dict[Any, Any]) -> NodeSharingDependencyMatcher:
    """A copy made by pickling: the same rules (as spaCy's own `unpickle_matcher` makes them)."""
    matcher = NodeSharingDependencyMatcher(vocab)
    for key, rule_patterns in patterns.items():
        matcher.add(key, rule_patterns, on_match=callbacks.get(key))
    return matcher
