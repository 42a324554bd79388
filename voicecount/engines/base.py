"""The small protocol every speech engine speaks, and the events it emits.

An engine is fed 16 kHz mono int16 chunks in order and answers with events:
``Partial`` (the current unstable guess at the words not yet final; each partial
replaces the previous one) and ``Final`` (words that will not change again).
Word times are seconds from the start of the stream. Engines run in the
pipeline worker thread only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..matcher import Keyword, Word


@dataclass(frozen=True)
class Partial:
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return join_words(self.words)


@dataclass(frozen=True)
class Final:
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return join_words(self.words)


EngineEvent = Partial | Final


def join_words(words: Sequence[Word]) -> str:
    return " ".join(w.text.strip() for w in words if w.text.strip())


class Engine(Protocol):
    name: str
    model_name: str

    def accept(self, chunk: np.ndarray) -> list[EngineEvent]:
        """Take the next chunk of audio; return whatever became known."""
        ...

    def finish(self) -> list[EngineEvent]:
        """End of audio: finalise every word still pending."""
        ...

    def set_keywords(self, keywords: Sequence[Keyword]) -> None:
        """The keywords being counted, for engines that can be biased towards them."""
        ...

    def fresh(self) -> Engine:
        """A new, empty stream that shares this engine's loaded model."""
        ...
