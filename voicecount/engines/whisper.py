"""faster-whisper as a streaming engine: re-decode a growing buffer, commit what two passes agree on.

Runs in the pipeline worker thread (faster-whisper's results are lazy generators
and are consumed here, in the thread that made them).

How it streams:
- Silero VAD (the ONNX model faster-whisper ships) marks 32 ms windows as
  speech or not. No speech in the buffer → no decoding at all, so silence costs
  nothing and cannot be hallucinated into words.
- While speech goes on, every ``step`` seconds of new audio the whole buffer is
  decoded again. Words that two consecutive passes agree on (longest common
  prefix, "local agreement") become final; the rest is the partial.
- A pause of ``endpoint`` seconds ends the utterance: everything is final and
  the buffer starts afresh. A buffer that grows past ``max_buffer`` seconds
  without a pause is cut after its last final word, so memory and decode time
  stay bounded.
- The recording path (``recording=True``, the default of ``count`` for files) skips the
  partial passes: each utterance is decoded once, with the beam, when the VAD ends it.
  Speech that goes on for ``max_buffer`` seconds without a pause is decoded then: all
  but its last seconds becomes final (cut at a word's end). Nobody is waiting for a
  partial, so the passes that only buy latency are not made.
- Short inputs make Whisper go round again ("AI. AI. AI." for one "AI"). Before
  anyone sees a pass: copies squeezed into no time are cut (``cut_repeats``),
  words placed after the last speech the VAD heard are dropped, and a run of one
  word keeps only as many copies as the speech under it can hold (``fit_runs``).
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE
from ..escape import one_line
from ..matcher import Keyword, Word, ends_sentence, keyword_prompt, tokens
from ..models import load_failed_fix, native_path, resolve_whisper_model
from .base import EngineEvent, Final, Partial

VAD_WINDOW = 512  # samples; Silero's window at 16 kHz (32 ms)
AGREE_SLACK = 0.5  # seconds two passes may place the same word apart and still agree
FULL_BUFFER_TAIL = 3.0  # seconds at the end of a full buffer left for the next pass (recording path)
# A pass over audio that starts mid-sentence often skips to the next sentence: a full buffer is
# cut after a sentence, if one ends at least this far in (else after the last final word).
MIN_PROGRESS = 3.0  # seconds


@dataclass
class WhisperOptions:
    step: float = 0.5  # seconds of new speech between decoding passes
    endpoint: float = 0.5  # seconds of silence that end an utterance
    max_buffer: float = 15.0  # seconds of audio decoded at most
    vad_threshold: float = 0.5
    # Beam search on every pass: on the dev talks it lifted F1 0.903 → 0.961 and cut the
    # latency p95 1.66 → 1.08 s against a beam on the final pass only, for RTF 0.18 → 0.27
    # (2 cores; BENCHMARKS.md, "Accuracy push").
    beam_size: int = 5  # for the end-of-utterance pass, whose words are final
    partial_beam_size: int = 5  # for the passes while speech goes on
    # Words to bias decoding towards. None: the keywords themselves (set_keywords),
    # which lifts recall of rare words like "AI" a lot on tiny models; "" for none.
    prompt: str | None = None
    preroll: float = 0.3  # audio kept before detected speech, so first syllables are not cut
    min_context: float = 0.0  # pad each pass to at least this many seconds (30 = Whisper's own window)
    # Words that start this long after the last speech the VAD heard are invented (negative: off).
    tail_margin: float = 0.1
    # The recording path: no partial passes; an utterance is decoded when it ends, or when
    # max_buffer seconds of speech go by without a pause (then all but its last seconds is final).
    single_pass: bool = False


class _Vad:
    """Streaming speech/silence decisions over 32 ms windows (Silero via faster-whisper)."""

    def __init__(self, threshold: float) -> None:
        from faster_whisper.vad import get_vad_model

        self.model = get_vad_model()
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        self._pending = np.zeros(0, np.float32)
        self._context = np.zeros(0, np.float32)
        self.in_speech = False

    def feed(self, audio: np.ndarray) -> list[bool]:
        """Speech flags for each completed 32 ms window of ``audio`` (hysteresis like Silero's own)."""
        self._pending = np.concatenate([self._pending, audio])
        n = (self._pending.size // VAD_WINDOW) * VAD_WINDOW
        if n == 0:
            return []
        # Give the model the window before as context by decoding it again and dropping its output.
        windows = np.concatenate([self._context, self._pending[:n]])
        skip = self._context.size // VAD_WINDOW
        self._context = self._pending[n - VAD_WINDOW : n].copy()
        self._pending = self._pending[n:]
        probs = np.asarray(self.model(windows)).reshape(-1)[skip:]
        flags = []
        for p in probs:
            if p >= self.threshold:
                self.in_speech = True
            elif p < self.neg_threshold:
                self.in_speech = False
            flags.append(self.in_speech)
        return flags


def _norm(w: Word) -> tuple[str, ...]:
    return tuple(tokens(w.text))


def _agreed_prefix(a: Sequence[Word], b: Sequence[Word]) -> int:
    """How many leading words two passes share: same text, about the same place in the audio."""
    n = 0
    for x, y in zip(a, b):
        if _norm(x) != _norm(y) or abs(x.start - y.start) > AGREE_SLACK:
            break
        n += 1
    return n


def decode(
    model: Any,
    tokenizer: Any,
    audio: np.ndarray,
    history: list[int],
    hotwords: str = "",
    min_context: float = 0.0,
    beam_size: int = 1,
) -> list[Word]:
    """One Whisper pass over ``audio`` (< 30 s) with word times relative to its start (greedy unless beam_size > 1).

    Unlike ``WhisperModel.transcribe`` it encodes only the audio there is (CTranslate2
    takes short inputs; padding every pass to 30 s would cost 4-10x more on a laptop CPU)
    and it encodes once: no seeking past the last word into a second window.
    """
    import ctranslate2
    from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens, merge_punctuations

    # Whole seconds plus trailing silence, so the last word is not at the very edge of the input.
    real = audio.size / SAMPLE_RATE
    seconds = min(30, int(np.ceil(max(real + 0.5, min_context))))
    padded = np.zeros(seconds * SAMPLE_RATE, np.float32)
    padded[: min(audio.size, padded.size)] = audio[: padded.size]
    features = model.feature_extractor(padded, padding=0)[:, : seconds * 100]
    num_frames = features.shape[-1]
    encoder_output = model.model.encode(
        ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32)), to_cpu=False
    )
    prompt = model.get_prompt(tokenizer, history, without_timestamps=True, hotwords=hotwords or None)
    budget = min(model.max_length - len(prompt), int(seconds * 6) + 10)
    result = model.model.generate(
        encoder_output,
        [prompt],
        beam_size=beam_size,
        max_length=len(prompt) + budget,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
    )[0]
    text_tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    if not text_tokens:
        return []
    avg_logprob = result.scores[0] * len(text_tokens) / (len(text_tokens) + 1)
    text = tokenizer.decode(text_tokens)
    # Whisper's own guards: "no speech" with a weak decode, or a repetition loop, is no words.
    if result.no_speech_prob > 0.6 and avg_logprob < -1.0:
        return []
    looping = get_compression_ratio(text) > 2.4
    alignment = model.find_alignment(tokenizer, [text_tokens], encoder_output, num_frames)[0]
    merge_punctuations(alignment, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、")
    out = []
    for a in alignment:
        # Words placed in the padding after the real audio are Whisper looping back over
        # what it already said (a known failure on short inputs): stop there.
        if a["start"] >= real - 0.02:
            break
        text = " ".join(a["word"].split())  # a word is one line: Whisper can print newlines inside one
        if text:
            # The last word can stretch into the padding: it ends where the audio does.
            end = min(float(a["end"]), real)
            out.append(Word(text, float(a["start"]), end, float(a["probability"])))
    out = cut_repeats(out)
    # One word printed again and again is left to the caller, which can tell it from speech said
    # that often (fit_runs, with the VAD); any other loop still left is no words at all.
    if looping and get_compression_ratio(" ".join(out[i].text for i, _ in _runs(out))) > 2.4:
        return []  # still a loop after cutting the repeats: nothing in it can be trusted
    return out


MIN_REPEAT = 3  # words; a shorter phrase said twice in a row ("no, no") can be real speech
# A copy of 2+ earlier words is Whisper's loop, not speech, when its words come faster than
# anyone speaks (under SQUEEZED_GAP seconds apart: 12 words a second) and in under
# SQUEEZED of the original's time. Loop copies sit at one instant or 20–40 ms apart.
SQUEEZED = 0.5
SQUEEZED_GAP = 0.08


def cut_repeats(words: list[Word]) -> list[Word]:
    """Cut a decode where Whisper goes round again over words it already printed.

    Short buffers make Whisper loop ("...use AI for. First, what do people use AI for."):
    a phrase of MIN_REPEAT+ words repeated back to back to the end of the pass, or a copy
    of earlier words squeezed into the last fraction of a second ("Artificial intelligence
    is not new. Artificial intelligence is not", the copy all at one instant). Either copy
    would count every keyword in it twice. A phrase said twice and then followed by other
    words is a speaker's emphasis ("a large language model, a large language model that
    runs offline"): a loop does not find its way back to new words.
    """
    # One word printed again in no time at all ("AI, AI, and AI" for "AI, and AI", the copy 0 s
    # long) is a glitch, not speech: drop just the copy, the words after it were said.
    kept = words[:1]
    for w in words[1:]:
        copy, original = w.end - w.start, kept[-1].end - kept[-1].start
        if not (_norm(w) == _norm(kept[-1]) and copy < SQUEEZED_GAP and copy < SQUEEZED * original):
            kept.append(w)
    words = kept
    toks = [_norm(w) for w in words]
    n = len(toks)
    for i in range(n):
        for size in range(MIN_REPEAT, (n - i) // 2 + 1):
            if toks[i : i + size] != toks[i + size : i + 2 * size]:
                continue
            # Copies (whole or cut short) to the end of the pass: a loop.
            if all(t == toks[i + k % size] for k, t in enumerate(toks[i + 2 * size :])):
                # What is kept can itself hold a copy: "There one. There one." twice over.
                return cut_repeats(words[: i + size])
    for j in range(1, n - 1):
        for i in range(j):
            size = 0
            while i + size < j and j + size < n and toks[i + size] == toks[j + size]:
                size += 1
            if size < 2:
                continue
            # Start to start: the copy's last word often stretches into the padding.
            original = words[i + size - 1].start - words[i].start
            copy = words[j + size - 1].start - words[j].start
            if copy < SQUEEZED * original and copy < SQUEEZED_GAP * (size - 1):
                return cut_repeats(words[:j])
    return words


FASTEST_SYLLABLE = 0.14  # seconds: about 7 syllables a second, the fastest people speak


def syllables(text: str) -> int:
    """Rough syllable count: letters of a short all-caps word ("AI" is said A-I), else vowel groups."""
    word = "".join(ch for ch in text if ch.isalnum())
    if word.isupper() and len(word) <= 5:
        return len(word)
    word = word.lower()
    groups = len(re.findall(r"[aeiouy]+", word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and groups > 1:
        groups -= 1  # a silent final e: "five", "intelligence"
    return max(1, groups)


def _runs(words: Sequence[Word]) -> list[tuple[int, int]]:
    """(first index, length) of each run of the same word in a row."""
    out: list[tuple[int, int]] = []
    for i, w in enumerate(words):
        if out and _norm(words[out[-1][0]]) == _norm(w):
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((i, 1))
    return out


def fit_runs(words: Sequence[Word], speech: Callable[[float, float], float]) -> list[Word]:
    """Cut each run of one word said again and again to as many as the speech under it holds.

    Short inputs make Whisper go round again: "AI AI" for one "AI", the copy placed inside
    the speech, so no timing guard sees it. A run of n words needs n times the word's
    syllables at the fastest speaking rate; ``speech(start, end)`` says how many seconds of
    speech the VAD heard there. "AI, AI, AI" said quickly (1 s of speech) keeps its three.
    """
    out: list[Word] = []
    for i, n in _runs(words):
        run = words[i : i + n]
        if n > 1:
            heard = speech(run[0].start, run[-1].end)
            n = min(n, max(1, int(heard / (syllables(run[0].text) * FASTEST_SYLLABLE))))
        out.extend(run[:n])
    return out


@dataclass
class WhisperEngine:
    model: Any
    model_name: str
    options: WhisperOptions = field(default_factory=WhisperOptions)
    name: str = "whisper"

    def __post_init__(self) -> None:
        self._vad = _Vad(self.options.vad_threshold)
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0.0  # stream time of self._buf[0]
        self._total = 0  # samples received
        self._speech_seen = False  # any speech in the buffer
        self._silence_run = 0.0  # seconds of non-speech since the last speech window
        self._since_pass = 0.0  # seconds of audio since the last decoding pass
        self._committed: list[Word] = []  # final words whose audio is still in the buffer
        self._committed_until = 0.0
        self._previous: list[Word] = []  # the last pass's uncommitted words
        self.passes = 0
        self._windows = 0  # VAD windows judged so far
        self._speech_end = 0.0  # stream time where the last speech window ended
        self._speech: deque[int] = deque()  # the speech windows still in the buffer, by number
        self._hint = self.options.prompt or ""
        from faster_whisper.tokenizer import Tokenizer

        self._tokenizer = Tokenizer(
            self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe", language="en"
        )

    @classmethod
    def load(
        cls,
        model: str | None = None,
        threads: int = 0,
        compute_type: str = "int8",
        recording: bool = False,
        **opts: Any,
    ) -> WhisperEngine:
        path, display = resolve_whisper_model(model)
        from faster_whisper import WhisperModel

        known = {k: v for k, v in opts.items() if k in WhisperOptions.__dataclass_fields__}
        if recording:
            known.setdefault("single_pass", True)
        native = native_path(path)
        try:
            fw = WhisperModel(
                native,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=threads or (os.cpu_count() or 2),
                local_files_only=True,
            )
            engine = cls(fw, display, WhisperOptions(**known))
            # A half-copied vocabulary loads, then fails on the first pass: one short pass now.
            decode(fw, engine._tokenizer, np.zeros(SAMPLE_RATE // 2, np.float32), [])
        except Exception as e:  # the tokenizers library raises bare Exceptions for a damaged file
            from ..errors import ModelError

            raise ModelError(
                f"faster-whisper could not load the model in {path} ({one_line(str(e))[:200]})",
                load_failed_fix(
                    native, "the folder is damaged or not a CTranslate2 Whisper model; reinstall or convert it again"
                ),
            ) from None
        return engine

    def fresh(self) -> WhisperEngine:
        """A new stream on the same loaded model (no reload)."""
        return WhisperEngine(self.model, self.model_name, self.options)

    def set_keywords(self, keywords: Sequence[Keyword]) -> None:
        """Prime decoding with the keywords' spelling, unless a fixed prompt was chosen."""
        if self.options.prompt is None:
            self._hint = keyword_prompt(keywords, self._fits)

    def _fits(self, prompt: str) -> bool:
        """Whether faster-whisper keeps all of ``prompt`` (it cuts one of max_length / 2 tokens mid-word)."""
        return len(self._tokenizer.encode(" " + prompt.strip())) < self.model.max_length // 2

    @property
    def buffered_seconds(self) -> float:
        """How much audio the next decoding pass would cover (bounded by max_buffer + step)."""
        return self._buf.size / SAMPLE_RATE

    @property
    def _now(self) -> float:
        return self._total / SAMPLE_RATE

    # ------------------------------------------------------------------ protocol
    def accept(self, chunk: np.ndarray) -> list[EngineEvent]:
        audio = chunk.astype(np.float32) / 32768.0
        # Speech windows whose audio has left the buffer are no longer asked about.
        while self._speech and (self._speech[0] + 1) * VAD_WINDOW < self._buf_start * SAMPLE_RATE:
            self._speech.popleft()
        self._total += chunk.size
        self._buf = np.concatenate([self._buf, audio])
        self._since_pass += chunk.size / SAMPLE_RATE
        for speech in self._vad.feed(audio):
            self._windows += 1
            if speech:
                self._speech.append(self._windows - 1)
                self._speech_end = self._windows * VAD_WINDOW / SAMPLE_RATE
                self._speech_seen = True
                self._silence_run = 0.0
            else:
                self._silence_run += VAD_WINDOW / SAMPLE_RATE

        opt = self.options
        if not self._speech_seen:
            # Silence only: keep a short pre-roll so the first syllable survives, decode nothing.
            keep = int(opt.preroll * SAMPLE_RATE)
            if self._buf.size > keep:
                self._buf_start += (self._buf.size - keep) / SAMPLE_RATE
                self._buf = self._buf[-keep:]
            self._since_pass = 0.0
            return []
        if self._silence_run >= opt.endpoint:
            return self._end_utterance()
        if opt.single_pass:
            return self._full_buffer() if self._buf.size >= opt.max_buffer * SAMPLE_RATE else []
        if self._since_pass >= opt.step:
            return self._decode_pass() + self._limit_buffer()
        return []

    def finish(self) -> list[EngineEvent]:
        return self._end_utterance() if self._speech_seen else []

    # ------------------------------------------------------------------ internals
    def _transcribe(self, beam_size: int = 1) -> list[Word]:
        self._since_pass = 0.0
        words = self._decode(self._buf.size, beam_size)
        if self.options.tail_margin >= 0:
            # Past the last speech the VAD heard there is nothing to transcribe: such words are
            # Whisper going round again over the utterance ("AI. AI." for one "AI").
            words = [w for w in words if w.start < self._speech_end + self.options.tail_margin]
        words = fit_runs(words, self._speech_seconds)
        return self._after_committed(words)

    def _after_committed(self, words: list[Word]) -> list[Word]:
        """Drop the words of a pass that repeat what is already final (the buffer still holds their audio)."""
        if not self._committed:
            return words
        new = [w for w in words if w.start > self._committed_until - 0.1]
        # Timestamps move between passes: also drop a repeated tail of final words (1–5 words)
        # placed about where they were — further on, the same word is the speaker saying it again.
        for n in range(min(5, len(self._committed), len(new)), 0, -1):
            if _agreed_prefix(self._committed[-n:], new[:n]) == n:
                return new[n:]
        return new

    def _commit(self, words: Sequence[Word]) -> list[EngineEvent]:
        if not words:
            return []
        self._committed.extend(words)
        self._committed_until = max(self._committed_until, words[-1].end)
        return [Final(tuple(words))]

    def _speech_seconds(self, start: float, end: float) -> float:
        """Seconds the VAD called speech between two stream times (inside the buffer)."""
        w = VAD_WINDOW / SAMPLE_RATE
        return sum(w for i in self._speech if start <= (i + 0.5) * w <= end)

    def _decode_pass(self) -> list[EngineEvent]:
        hyp = self._transcribe(self.options.partial_beam_size)
        n = _agreed_prefix(self._previous, hyp)
        events = self._commit(hyp[:n])
        self._previous = hyp[n:]
        events.append(Partial(tuple(self._previous)))
        return events

    def _end_utterance(self) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        if self._since_pass > 0 or self._previous:
            beam = self.options.beam_size
            # The last pass already searched this buffer; only a wider final beam is worth a second look.
            redo = self._since_pass > 0 or (beam > self.options.partial_beam_size and self._previous)
            hyp = self._transcribe(beam) if redo else self._previous
            events = self._commit(hyp)
        events.append(Partial(()))
        # Start afresh: keep only the trailing silence's pre-roll.
        keep = int(self.options.preroll * SAMPLE_RATE)
        self._buf_start = self._now - min(self._buf.size, keep) / SAMPLE_RATE
        self._buf = self._buf[-keep:] if keep else self._buf[:0]
        self._committed, self._previous = [], []
        self._committed_until = self._now
        self._speech_seen = False
        self._silence_run = 0.0
        self._since_pass = 0.0
        return events

    def _full_buffer(self) -> list[EngineEvent]:
        """Recording path, speech without a pause: decode once; what is said before the last
        seconds is final, up to the end of its last sentence.

        The buffer is then cut there, so the next pass starts at a sentence (one that starts
        mid-sentence tends to skip to the next) and no word is split; what follows the cut is
        decoded again with the audio after it. A pass that makes nothing final (one word
        stretched over the whole buffer) is tried again on the first half alone, so speech is
        never cut away unheard.
        """
        hyp = self._transcribe(self.options.beam_size)
        edge = self._now - FULL_BUFFER_TAIL
        done = [w for w in hyp if w.end <= edge]
        if not done:
            edge = self._buf_start + self.options.max_buffer / 2
            half = int((self.options.max_buffer / 2 + 0.5) * SAMPLE_RATE)
            done = [w for w in self._decode(half, self.options.beam_size) if w.end <= edge]
        ends = [i for i, w in enumerate(done) if ends_sentence(w.text)]
        if ends and done[ends[-1]].end - self._buf_start >= MIN_PROGRESS:
            done = done[: ends[-1] + 1]
        events = self._commit(done)
        cut = done[-1].end if done else edge
        self._drop_audio_before(cut)
        self._committed = []
        self._committed_until = max(self._committed_until, cut)
        self._previous = []
        return events

    def _decode(self, samples: int, beam_size: int) -> list[Word]:
        """One pass over the buffer's first ``samples``, its words at stream times."""
        self.passes += 1
        # No previous text as prompt: tiny models echo it back as words that were never said.
        audio = self._buf[:samples]
        words = decode(self.model, self._tokenizer, audio, [], self._hint, self.options.min_context, beam_size)
        return [Word(w.text, self._buf_start + w.start, self._buf_start + w.end, w.probability) for w in words]

    def _limit_buffer(self) -> list[EngineEvent]:
        """Cut a long buffer after its last final word; force-final old words if nothing agreed."""
        if self._buf.size / SAMPLE_RATE <= self.options.max_buffer:
            return []
        events: list[EngineEvent] = []
        cut = max(self._committed_until, self._buf_start)
        if not self._committed or self._committed_until - self._buf_start < 1.0:
            # Nothing stable for a whole buffer: accept the older half of the guess as final, and
            # drop that half's audio even if it held no words (speech the model cannot transcribe
            # must not grow the buffer without end).
            cut_at = self._buf_start + self.options.max_buffer / 2
            old = [w for w in self._previous if w.end <= cut_at]
            events = self._commit(old)
            self._previous = [w for w in self._previous if w.end > cut_at]
            cut = max(self._committed_until, cut_at)
        if self._drop_audio_before(cut):
            self._committed = []
        return events

    def _drop_audio_before(self, cut: float) -> bool:
        """Forget the buffer's audio before stream time ``cut``; whether there was any."""
        drop = int((cut - self._buf_start) * SAMPLE_RATE)
        if drop <= 0:
            return False
        self._buf = self._buf[drop:]
        self._buf_start = cut
        return True
