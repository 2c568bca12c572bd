"""A BundleRec domain folder as the recall evaluation needs it: items, sessions, bundles, a split.

Bundles are cut from purchase sessions by crowd workers, so a bundle's partners are in its
session by construction. The split is therefore by *session*: the test bundles' sessions
are held out whole, and no method sees their co-occurrence (otherwise the session
baseline would read the answer off the session).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from knowledge_graph.records import CatalogueItem, Evidence
from store.errors import BadInput
from store.formats import bundlerec
from store.formats.lines import table_rows


def _groups(path: Path, group_col: str, item_col: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for line, row in table_rows(path, ","):
        group, member = row.get(group_col, "").strip(), row.get(item_col, "").strip()
        if not group or not member:
            raise BadInput(f"missing {group_col if not group else item_col}", path, line)
        if member not in groups[group]:
            groups[group].append(member)
    return dict(groups)


@dataclass
class BundleDomain:
    name: str
    items: list[CatalogueItem]
    sessions: dict[str, list[str]]  # session id -> item keys (titled items only)
    bundles: dict[str, list[str]]  # bundle id -> item keys
    bundle_session: dict[str, str]  # bundle id -> session id

    def _held_out(self, share: float, seed: int) -> set[str]:
        sessions = sorted(self.sessions)
        random.Random(seed).shuffle(sessions)
        return set(sessions[: round(len(sessions) * share)])

    def split(self, test_share: float = 0.2, seed: int = 0) -> Split:
        """Hold out a seeded share of sessions, with every bundle cut from them."""
        held_out = self._held_out(test_share, seed)
        train, test = {}, {}
        for bundle, members in sorted(self.bundles.items()):
            (test if self.bundle_session.get(bundle) in held_out else train)[bundle] = members
        return Split(
            train_sessions={s: m for s, m in self.sessions.items() if s not in held_out},
            train_bundles=train,
            test_bundles=test,
        )

    def training_part(self, test_share: float = 0.2, seed: int = 0) -> BundleDomain:
        """The domain without the sessions ``split(test_share, seed)`` holds out, nor their bundles.

        Splitting this again gives a validation split: settings can be chosen on it without
        the test bundles ever being read.
        """
        held_out = self._held_out(test_share, seed)
        bundles = {b: m for b, m in self.bundles.items() if self.bundle_session.get(b) not in held_out}
        return BundleDomain(
            self.name, self.items,
            {s: m for s, m in self.sessions.items() if s not in held_out},
            bundles,
            {b: s for b, s in self.bundle_session.items() if b in bundles},
        )


@dataclass
class Split:
    train_sessions: dict[str, list[str]]
    train_bundles: dict[str, list[str]]
    test_bundles: dict[str, list[str]]

    def train_evidence(self) -> list[Evidence]:
        """Within-bundle pairs of the training bundles: one human complementary answer each."""
        return [
            Evidence(a, b, "complementary", source="human")
            for members in self.train_bundles.values()
            for a, b in combinations(sorted(members), 2)
        ]

    def test_queries(self) -> dict[str, set[str]]:
        """Each held-out bundle item and its partners in the held-out bundles."""
        partners: dict[str, set[str]] = defaultdict(set)
        for members in self.test_bundles.values():
            for item in members:
                partners[item].update(m for m in members if m != item)
        return {item: found for item, found in sorted(partners.items()) if found}


def load_domain(directory: Path) -> BundleDomain:
    if not bundlerec.is_bundlerec_dir(directory):
        raise BadInput(f"not a BundleRec domain folder (needs {', '.join(bundlerec.REQUIRED_FILES)})",
                       directory)
    source = bundlerec.source_of(directory)
    items = [CatalogueItem(f"{r.source}:{r.external_id}", r.title, r.category_path)
             for r in bundlerec.read_items(directory)]
    titled = {item.key for item in items}

    def keyed(groups: dict[str, list[str]]) -> dict[str, list[str]]:
        kept = {g: [f"{source}:{m}" for m in members if f"{source}:{m}" in titled]
                for g, members in groups.items()}
        return {g: members for g, members in kept.items() if len(members) >= 2}

    sessions = keyed(_groups(directory / "session_item.csv", "session ID", "item ID"))
    bundles = keyed(_groups(directory / "bundle_item.csv", "bundle ID", "item ID"))
    session_file = directory / "session_bundle.csv"
    if not session_file.exists():
        raise BadInput("missing session_bundle.csv (needed to hold out whole sessions)", session_file)
    bundle_session = {bundle: members[0] for bundle, members in
                      _groups(session_file, "bundle ID", "session ID").items()}
    return BundleDomain(directory.resolve().name, items, sessions, bundles, bundle_session)


def find_domains(directory: Path) -> Iterator[Path]:
    """A BundleRec domain folder itself, or the domain folders inside it, sorted."""
    if bundlerec.is_bundlerec_dir(directory):
        yield directory
        return
    found = sorted(p for p in directory.iterdir() if bundlerec.is_bundlerec_dir(p)) if directory.is_dir() else []
    if not found:
        raise BadInput("neither a BundleRec domain folder nor a folder of them", directory)
    yield from found
