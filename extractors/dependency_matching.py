"""spaCy's dependency matcher, finding each distinct node pattern once per document.

spaCy's `DependencyMatcher` adds every node of every pattern to one token
`Matcher` under a key of its own, then walks the tree from each match to its
root. kept's promise rows repeat the same nodes over and over (``I``/``we``
as subject in 22 of 208 nodes, "will"/"'ll" in 14, the any-token node in 11):
the 208 nodes of its 68 dependency rows are 115 distinct ones.
`NodeSharingDependencyMatcher` runs one `Matcher` of the distinct nodes,
finds each matched token's root once, and hands every position to all the
keys that share the node: the same matches, in the same order, as spaCy's
own (``tests/test_dependency_matching.py`` checks that on labelled
sentences; it was so for every candidate sentence of the Enron mail in
``../shared``). On the 2,500 candidate sentences of the three Enron dev
mailboxes' sent mail it took 2.5 s instead of 3.2 s, and ``kept extract``
ran 5-20 % faster in alternating runs (docs/benchmarks.md).

Everything else (adding patterns, validating them, checking the tree
relations) is spaCy's.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from spacy.matcher import DependencyMatcher, Matcher
from spacy.tokens import Doc

__all__ = ["NodeSharingDependencyMatcher"]


class NodeSharingDependencyMatcher(DependencyMatcher):
    """A `DependencyMatcher` that matches each distinct node pattern once.

    :param vocab: the vocabulary of the documents it will match.
    :param validate: validate patterns as they are added (spaCy's option).
    """

    def __init__(self, vocab: Any, *, validate: bool = False) -> None:
        super().__init__(vocab, validate=validate)
        self._validate_nodes = validate
        # Built at the first match, after every pattern was added: the
        # matcher of distinct nodes, and the inner keys sharing each.
        self._shared: tuple[Matcher, dict[int, list[int]]] | None = None

    def add(self, key: Any, patterns: list[Any], *, on_match: Any = None) -> None:
        """Add patterns under `key`, as spaCy's `DependencyMatcher.add`."""
        super().add(key, patterns, on_match=on_match)
        self._shared = None

    def remove(self, key: Any) -> None:
        """Remove the patterns under `key`, as spaCy's `DependencyMatcher.remove`."""
        super().remove(key)
        self._shared = None

    def _shared_nodes(self) -> tuple[Matcher, dict[int, list[int]]]:
        if self._shared is None:
            matcher = Matcher(self.vocab, validate=self._validate_nodes)
            keys_by_node: dict[str, list[int]] = {}
            for key, node_lists in self._patterns.items():
                for nodes, inner_keys in zip(node_lists, self._tokens_to_key[key]):
                    for (attributes,), inner_key in zip(nodes, inner_keys):
                        node = json.dumps(attributes, sort_keys=True)
                        keys_by_node.setdefault(node, []).append(inner_key)
            sharing: dict[int, list[int]] = {}
            for number, (node, inner_keys) in enumerate(keys_by_node.items()):
                shared_key = self.vocab.strings.add(f"kept-shared-node-{number}")
                matcher.add(shared_key, [[json.loads(node)]])
                sharing[shared_key] = inner_keys
            self._shared = (matcher, sharing)
        return self._shared

    def _get_keys_to_position_maps(self, doc: Doc) -> defaultdict[int, defaultdict[int, list[int]]]:
        """Positions of each inner key's matches grouped by the root of their
        tree, as spaCy's method gives them (its match loop, once per node)."""
        matcher, sharing = self._shared_nodes()
        keys_to_position_maps: defaultdict[int, defaultdict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        roots: dict[int, int] = {}
        # One pass per distinct node, with every key sharing it, in the
        # order of spaCy's: its matcher lists single-token matches by
        # position, so roots and positions come in the same order.
        for shared_key, start, _end in matcher(doc):
            root = roots.get(start)
            if root is None:
                token = doc[start]
                root = roots[start] = ([token, *token.ancestors])[-1].i
            by_key = keys_to_position_maps[root]
            for inner_key in sharing[shared_key]:
                by_key[inner_key].append(start)
        return keys_to_position_maps
