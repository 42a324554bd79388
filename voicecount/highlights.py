"""Highlights of a talk: the transcript's own sentences that matter, each with its time.

What a small local model writes about a talk cannot be trusted (it invents), so
the default summary is extractive. Two kinds of sentence are picked:

- keyword hits in context: for each keyword, its most central sentences;
- the most central sentences of the talk: LexRank (Erkan & Radev, 2004) — TF-IDF
  vectors (scikit-learn), a graph of sentences whose cosine similarity passes a
  threshold, ranked by PageRank (networkx) — skipping near-repeats of a pick.

Shown in the order they were said; every line is a sentence the speaker said, at
the time it was said.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .export import Cue, sentences
from .grounding import Line, content_words
from .session import Session

MIN_WORDS = 5  # shorter sentences ("Thank you.") are not highlights
SIMILAR = 0.1  # LexRank's edge threshold on cosine similarity
REPEAT = 0.5  # a candidate this similar to a pick says the same thing again
SHARE = 0.5  # highlights per sentence: half of a short talk, up to MOST for a long one
FEWEST, MOST = 3, 12
PER_KEYWORD = 2  # hit sentences per keyword, at most


def how_many(sentences: int) -> int:
    return max(FEWEST, min(MOST, math.ceil(sentences * SHARE)))


def centrality(texts: Sequence[str]) -> tuple[list[float], np.ndarray]:
    """LexRank score of each sentence, and the sentences' pairwise cosine similarity."""
    import networkx as nx
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        vectors = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    except ValueError:  # nothing but stop words: no sentence stands out
        return [1.0] * len(texts), np.zeros((len(texts), len(texts)))
    sim = (vectors @ vectors.T).tocsr()  # rows are unit length: the dot product is the cosine
    sim.setdiag(0)
    cosine = sim.toarray()
    sim.data[sim.data < SIMILAR] = 0
    sim.eliminate_zeros()
    ranks = nx.pagerank(nx.from_scipy_sparse_array(sim), weight="weight")
    return [ranks.get(i, 0.0) for i in range(len(texts))], cosine


def pick(sentences: Sequence[Cue], hits: Sequence[tuple[float, str]] = (), n: int | None = None) -> list[Line]:
    """The highlights of ``sentences`` in time order (at most ``n``; default by length).

    ``hits`` are (time, keyword) of the counted keywords.
    """
    if not sentences:
        return []
    texts = [c.text for c in sentences]
    ranks, cosine = centrality(texts)
    n = how_many(len(sentences)) if n is None else n
    # A highlight says something: enough words, and some that are not stop words.
    eligible = [i for i, t in enumerate(texts) if len(t.split()) >= MIN_WORDS and content_words(t)]
    eligible = eligible or list(range(len(texts)))
    by_rank = sorted(eligible, key=lambda i: -ranks[i])
    chosen: list[int] = []

    def take(i: int) -> bool:
        if i in chosen or len(chosen) >= n or any(cosine[i, j] >= REPEAT for j in chosen):
            return False
        chosen.append(i)
        return True

    for kw in dict.fromkeys(k for _, k in hits):
        times = [t for t, k in hits if k == kw]
        with_hit = [i for i in by_rank if any(sentences[i].start - 0.05 <= t <= sentences[i].end for t in times)]
        taken = 0
        for i in with_hit:
            if taken >= PER_KEYWORD:
                break
            taken += take(i)
    for i in by_rank:
        take(i)
    return [Line(sentences[i].text, (sentences[i].start,)) for i in sorted(chosen)]


def highlights(session: Session, n: int | None = None) -> list[Line]:
    # Whole sentences, not subtitle cues: a cue cut at 7 s can read as the opposite of what was said.
    return pick(sentences(session), [(h.start, h.keyword) for h in session.counted], n)
