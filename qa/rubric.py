"""The rubric: a YAML file trainers edit, validated with located, fixable messages.

```yaml
rubric: acme-support
version: 3
categories: {promptness: {weight: 25}, politeness: {weight: 20}, ...}
criteria:
  - id: greeting
    category: politeness
    check: phrases           # a registered check type (see qa.checks.REGISTRY)
    any: ["thank you for calling", "hello"]
    ...
```

Loading is safe: the round-trip loader of ruamel.yaml never constructs Python objects,
and on top of that any explicit tag other than the YAML core ones is refused, alias
expansion is bounded, duplicate keys and tabs are reported with their line. Every
problem is a line ``FILE:LINE key.path: what is wrong; how to fix it``; all problems
are collected and raised together in one :class:`~qa.errors.RubricError`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import RubricError

CATEGORIES: tuple[str, ...] = ("promptness", "politeness", "professionalism", "personalization",
                               "empathy")
"""The five fixed category ids."""

CHANNELS = ("voice", "chat", "email", "social")
MAX_FILE_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_ALIASES = 1_000
_CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in
              ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")}
_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

# keys every criterion has, whatever its check; the rest are the check's options
COMMON_KEYS = ("id", "category", "description", "check", "weight", "auto_fail", "channels",
               "when", "coaching", "examples")


# ---------------------------------------------------------------- schema
class CategorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = Field(default=20.0, ge=0)
    """Relative weight of the category in the overall score."""


class ExampleTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str | None = None
    customer: str | None = None


class Examples(BaseModel):
    """Utterances that must pass / must fail this criterion (``qa rubric test``).

    Each item is a string (one turn by the criterion's speaker, the agent by default) or a
    list of one-key mappings ``{customer: "..."}`` / ``{agent: "..."}`` for a short exchange.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    pass_: list[str | list[ExampleTurn]] = Field(default_factory=list, alias="pass")
    fail: list[str | list[ExampleTurn]] = Field(default_factory=list)


class CriterionBase(BaseModel):
    """The keys every criterion has; the check's own options are validated by the check."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(pattern=_ID_RE.pattern, max_length=80)
    category: Literal["promptness", "politeness", "professionalism", "personalization", "empathy"]
    description: str = ""
    check: str
    weight: float = Field(default=1.0, ge=0)
    auto_fail: bool = False
    channels: list[Literal["voice", "chat", "email", "social"]] | None = None
    when: str | list[str] | dict[str, list[str]] | None = None
    """Conditions (qa.situation.CONDITIONS) under which the criterion applies; N/A otherwise."""
    coaching: str | None = None
    examples: Examples = Field(default_factory=Examples)


class RubricDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rubric: str = Field(min_length=1, max_length=120)
    version: str | int | float = 1
    description: str = ""
    categories: dict[Literal["promptness", "politeness", "professionalism", "personalization",
                             "empathy"], CategorySpec] | None = None
    criteria: list[dict[str, Any]] = Field(min_length=1)
    calibration: dict[str, str] | None = None
    """Grader label → criterion id, for ``qa calibrate`` (overrides its default mapping)."""


# ---------------------------------------------------------------- loaded rubric
@dataclass
class Criterion:
    """One validated criterion."""

    id: str
    category: str
    description: str
    check: str
    weight: float
    auto_fail: bool
    channels: tuple[str, ...] | None
    coaching: str | None
    examples: Examples
    options: BaseModel
    """The check's validated options (its own pydantic model)."""
    when: tuple[str, ...] = ()
    """Conditions that must hold for the criterion to apply (empty: always applies)."""
    when_any: bool = False
    """True: any one of ``when`` is enough; False: all of them must hold."""
    line: int | None = None
    """1-based line of the criterion in the YAML file."""

    def applies_to(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels


@dataclass
class Rubric:
    """A validated rubric, ready to score with."""

    id: str
    version: str
    description: str
    categories: dict[str, float]
    """Category id → relative weight (all five ids present; 0 for unused ones)."""
    criteria: list[Criterion]
    hash: str
    """sha256 of the normalised content (comments and formatting do not change it)."""
    path: str | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    def criterion(self, cid: str) -> Criterion:
        for c in self.criteria:
            if c.id == cid:
                return c
        raise KeyError(cid)

    def needs(self) -> set[str]:
        """NLP features the rubric's checks need (``lemma``, ``ner``, ``doc``, ``pos``)."""
        from .checks import REGISTRY

        out: set[str] = set()
        for c in self.criteria:
            out |= set(REGISTRY[c.check].needs_for(c.options))
        return out


def default_rubric_path() -> Path:
    """The shipped default rubric (``rubrics/default.yaml``; see :mod:`qa.shipped`)."""
    from .shipped import rubric_path

    return rubric_path("default")


# ---------------------------------------------------------------- YAML, safely
class _Lines:
    """Finds the line of a key path in the round-trip tree."""

    def __init__(self, root: Any):
        self.root = root

    def line(self, loc: tuple) -> int | None:
        node = self.root
        best = 1
        for part in loc:
            lc = getattr(node, "lc", None)
            try:
                if isinstance(part, int) and isinstance(node, list):
                    if lc is not None:
                        best = lc.item(part)[0] + 1
                    node = node[part]
                elif isinstance(node, dict) and part in node:
                    if lc is not None:
                        best = lc.key(part)[0] + 1
                    node = node[part]
                else:
                    break
            except (KeyError, IndexError, TypeError, AttributeError):
                break
        return best


def _plain(node: Any, budget: list[int], stack: set[int]) -> Any:
    """Round-trip tree → plain dicts/lists/scalars, bounded (alias bombs, self-references)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig()
    if isinstance(node, dict):
        if id(node) in stack:
            raise _TooBig()
        stack.add(id(node))
        out = {str(k) if not isinstance(k, (str, int, float, bool)) else k: _plain(v, budget, stack)
               for k, v in node.items()}
        stack.discard(id(node))
        return out
    if isinstance(node, list):
        if id(node) in stack:
            raise _TooBig()
        stack.add(id(node))
        out = [_plain(v, budget, stack) for v in node]
        stack.discard(id(node))
        return out
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return str(node)  # timestamps and the like: keep as text


class _TooBig(Exception):
    pass


def _walk_nodes(node: Any, problems: list[tuple[int | None, str, str]]) -> None:
    """Check the composed node graph: only core tags, bounded size and aliases."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    seen: set[int] = set()
    count = 0
    aliases = 0
    stack = [node]
    while stack:
        n = stack.pop()
        count += 1
        if count > MAX_NODES:
            problems.append((None, "(file)", f"more than {MAX_NODES} YAML nodes (alias expansion?); "
                             "a rubric is a few hundred lines: remove the anchors/aliases"))
            return
        if id(n) in seen:
            aliases += 1
            if aliases > MAX_ALIASES:
                problems.append((n.start_mark.line + 1, "(file)",
                                 f"more than {MAX_ALIASES} alias uses; write the lists out instead"))
                return
            # an alias re-visits the node: count it again but do not re-check its tag
        seen.add(id(n))
        tag = n.tag if isinstance(n.tag, str) else getattr(n.tag, "value", str(n.tag))
        if tag and tag not in _CORE_TAGS and not tag.startswith("tag:yaml.org,2002:") or (
                tag and tag.startswith("tag:yaml.org,2002:python")):
            problems.append((n.start_mark.line + 1, "(file)",
                             f"YAML tag '{tag.replace('tag:yaml.org,2002:', '!!')}' is not allowed; "
                             "remove it (a rubric holds only plain text, numbers, lists and mappings)"))
            continue
        if tag and tag not in _CORE_TAGS:
            problems.append((n.start_mark.line + 1, "(file)",
                             f"YAML tag '{tag.replace('tag:yaml.org,2002:', '!!')}' is not allowed; remove it"))
            continue
        if isinstance(n, MappingNode):
            for k, v in n.value:
                stack.append(k)
                stack.append(v)
        elif isinstance(n, SequenceNode):
            stack.extend(n.value)


def _yaml_error(exc: Exception) -> tuple[int | None, str]:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "'\\t'" in problem or "\\t" in problem or "tab" in problem.lower():
        return line, "a tab character is used for indentation; YAML needs spaces: replace the tab with spaces"
    if "duplicate key" in problem:
        m = re.search(r'duplicate key "([^"]*)"', problem)
        key = m.group(1) if m else "?"
        first = getattr(exc, "context_mark", None)
        where = f" in the mapping that starts at line {first.line + 1}" if first is not None else ""
        return line, f"duplicate key '{key}'{where}; keep one of them"
    context = getattr(exc, "context", None)
    text = f"{context}, {problem}" if context else problem
    return line, f"YAML syntax error: {text}; check the indentation and quotes on this line"


def _read_yaml(text: str, path: str, version_text: list[str] | None = None) -> tuple[Any, list[str]]:
    """Parse YAML safely. Returns (round-trip tree or None, problems); the version's text
    as written is appended to ``version_text``."""
    version_text = version_text if version_text is not None else []
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    problems: list[str] = []

    def add(line: int | None, key: str, msg: str) -> None:
        problems.append(_fmt(path, line, key, msg))

    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    try:
        node = y.compose(text)
    except YAMLError as exc:
        line, msg = _yaml_error(exc)
        add(line, "(file)", msg)
        return None, problems
    if node is None:
        add(1, "(file)", "the file is empty; start from a copy of the default rubric "
                         "(qa rubric explain shows it)")
        return None, problems
    found: list[tuple[int | None, str, str]] = []
    _walk_nodes(node, found)
    if found:
        for line, key, msg in found:
            add(line, key, msg)
        return None, problems
    try:
        tree = y.load(text)
    except YAMLError as exc:
        line, msg = _yaml_error(exc)
        add(line, "(file)", msg)
        return None, problems
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    if isinstance(node, MappingNode):  # the version exactly as written ("1.10", not 1.1)
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == "version" and isinstance(v, ScalarNode):
                version_text.append(v.value)
    return tree, problems


def _fmt(path: str, line: int | None, key: str, msg: str) -> str:
    where = f"{path}:{line}" if line else path
    return f"{where} {key}: {msg}"


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None:
        return "nothing"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _pydantic_messages(exc: ValidationError, model: type[BaseModel] | None = None
                       ) -> list[tuple[tuple, str]]:
    """Flatten pydantic errors into (loc, plain message with the fix)."""
    out: list[tuple[tuple, str]] = []
    seen: set[tuple] = set()
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (
            p.startswith(("str", "list[", "function-", "lax-", "json-", "literal[")) or p in (
                "int", "float", "bool"))))
        # union branches repeat the same location: keep the first
        if loc in seen:
            continue
        seen.add(loc)
        typ = err["type"]
        got = err.get("input")
        ctx = err.get("ctx") or {}
        last = loc[-1] if loc else ""
        if typ == "missing":
            msg = "is required; add it"
        elif typ == "extra_forbidden":
            allowed = ", ".join(model.model_fields) if model is not None and len(loc) == 1 else ""
            msg = "unknown key; remove it" + (f" (allowed keys: {allowed})" if allowed else "")
        elif typ in ("float_parsing", "float_type", "int_parsing", "int_type", "int_from_float") or (
                typ in ("greater_than_equal", "greater_than") and last in ("weight",)):
            ge = ctx.get("ge")
            bound = " ≥ 0" if last == "weight" else (f" ≥ {ge}" if ge is not None else "")
            kind = "a whole number" if typ.startswith("int") else "a number"
            msg = f"must be {kind}{bound}, got {_show(got)}"
        elif typ in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            sym = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤",
                   "less_than": "<"}[typ]
            bound = next(iter(ctx.values()), "")
            msg = f"must be {sym} {bound}, got {_show(got)}"
        elif typ == "literal_error":
            msg = f"must be one of {ctx.get('expected', '')}, got {_show(got)}"
        elif typ in ("bool_parsing", "bool_type"):
            msg = f"must be true or false, got {_show(got)}"
        elif typ in ("string_type",):
            msg = f"must be text, got {_show(got)}; put it in quotes"
        elif typ in ("list_type", "tuple_type"):
            msg = f"must be a list, got {_show(got)}; write it as [a, b] or as lines starting with '- '"
        elif typ in ("dict_type", "model_type", "model_attributes_type"):
            msg = f"must be a mapping (key: value lines), got {_show(got)}"
        elif typ == "string_pattern_mismatch":
            msg = (f"{_show(got)} is not a valid id; use letters, digits, '_', '-' or '.', "
                   "e.g. greeting_2")
        elif typ in ("too_short",) and isinstance(got, (list, dict)):
            msg = "must not be empty"
        elif typ == "string_too_short":
            msg = "must not be empty"
        elif typ == "value_error":
            msg = str(ctx.get("error", err["msg"]))
        else:
            msg = err["msg"][0].lower() + err["msg"][1:] + f", got {_show(got)}"
        out.append((loc, msg))
    return out


# ---------------------------------------------------------------- public API
def load_rubric(path: str | Path | None = None) -> Rubric:
    """Load and validate a rubric file (the shipped default when ``path`` is None).

    Raises :class:`RubricError` whose ``problems`` list every problem found.
    """
    p = Path(path) if path is not None else default_rubric_path()
    shown = str(path) if path is not None else str(p)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise RubricError("rubric file not found", path=shown,
                          fix="Check the path given to --rubric.") from None
    except OSError as exc:
        raise RubricError(f"cannot read the rubric: {exc.strerror}", path=shown) from None
    if len(raw) > MAX_FILE_BYTES:
        raise RubricError(f"rubric file is larger than {MAX_FILE_BYTES // 1000} kB", path=shown,
                          fix="A rubric is a short YAML file; check you chose the right file.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RubricError("rubric is not UTF-8 text", path=shown,
                          fix="Save the file as UTF-8.") from None
    return parse_rubric(text, shown)


def parse_rubric(text: str, path: str = "rubric.yaml") -> Rubric:
    """Validate rubric YAML text; ``path`` is only used in messages."""
    from .checks import REGISTRY, CheckOptionsError

    version_text: list[str] = []
    tree, problems = _read_yaml(text, path, version_text)
    if tree is None:
        raise RubricError(f"{len(problems)} problem(s) in the rubric", path=path,
                          problems=problems)
    lines = _Lines(tree)

    def add(loc: tuple, msg: str) -> None:
        problems.append(_fmt(path, lines.line(loc), _key_path(loc), msg))

    try:
        data = _plain(tree, [MAX_NODES], set())
    except _TooBig:
        add((), f"the rubric expands to more than {MAX_NODES} values (aliases?); write it out plainly")
        raise RubricError("rubric too large", path=path, problems=problems) from None
    if not isinstance(data, dict):
        add((), "the rubric must be a mapping with keys rubric, version, categories, criteria")
        raise RubricError("not a rubric", path=path, problems=problems)

    try:
        doc = RubricDoc.model_validate(data)
    except ValidationError as exc:
        for loc, msg in _pydantic_messages(exc, RubricDoc):
            add(loc, msg)
        doc = None
    crit_data = data.get("criteria") if isinstance(data.get("criteria"), list) else []

    criteria: list[Criterion] = []
    ids: dict[str, int] = {}
    for i, cd in enumerate(crit_data):
        base_loc = ("criteria", i)
        if not isinstance(cd, dict):
            add(base_loc, f"each criterion must be a mapping (id:, category:, check: …), got {_show(cd)}")
            continue
        try:
            base = CriterionBase.model_validate(cd)
        except ValidationError as exc:
            for loc, msg in _pydantic_messages(exc):
                add(base_loc + loc, msg)
            base = None
        cid = cd.get("id")
        if isinstance(cid, str):
            if cid in ids:
                add(base_loc + ("id",), f"duplicate id '{cid}' (also criteria[{ids[cid]}]); "
                                        "give each criterion its own id")
            else:
                ids[cid] = i
        check_name = cd.get("check")
        if not isinstance(check_name, str):
            continue
        if check_name not in REGISTRY:
            known = ", ".join(REGISTRY)
            add(base_loc + ("check",), f"Unknown check '{check_name}'. Known checks: {known}")
            continue
        check_cls = REGISTRY[check_name]
        opts = {k: v for k, v in cd.items() if k not in COMMON_KEYS}
        try:
            options = check_cls.validate_options(opts)
        except CheckOptionsError as exc:
            for loc, msg in exc.problems:
                add(base_loc + loc, msg)
            continue
        except ValidationError as exc:
            allowed = ", ".join(check_cls.Options.model_fields)
            for loc, msg in _pydantic_messages(exc):
                if msg.startswith("unknown key"):
                    msg = (f"unknown option for check '{check_name}'; its options are: {allowed} "
                           f"(and for every criterion: {', '.join(COMMON_KEYS)})")
                add(base_loc + loc, msg)
            continue
        if base is None:
            continue
        when, when_any, when_problems = _parse_when(cd.get("when"))
        for msg in when_problems:
            add(base_loc + ("when",), msg)
        if when_problems:
            continue
        criteria.append(Criterion(
            id=base.id, category=base.category, description=base.description or "",
            check=check_name, weight=float(base.weight), auto_fail=base.auto_fail,
            channels=tuple(base.channels) if base.channels is not None else None,
            coaching=base.coaching, examples=base.examples, options=options, when=when,
            when_any=when_any, line=lines.line(base_loc)))

    categories: dict[str, float] = {c: 0.0 for c in CATEGORIES}
    if doc is not None:
        if doc.categories is None:
            categories = {c: 20.0 for c in CATEGORIES}
        else:
            for c, spec in doc.categories.items():
                categories[c] = float(spec.weight)
            used = {c.category for c in criteria}
            for c in CATEGORIES:
                if c in used and c not in doc.categories:
                    add(("categories",), f"category '{c}' has criteria but no weight; add "
                                         f"`{c}: {{weight: 20}}` (weights are relative)")
        if categories and sum(categories.values()) <= 0:
            add(("categories",), "every category weight is 0; give at least one a weight above 0")

    if problems:
        raise RubricError(f"{len(problems)} problem(s) in the rubric", path=path, problems=problems)
    assert doc is not None
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    version = version_text[0] if version_text and not isinstance(doc.version, str) else str(doc.version)
    return Rubric(id=doc.rubric, version=version, description=doc.description,
                  categories=categories, criteria=criteria, hash=digest, path=path, data=data)


def _parse_when(value: Any) -> tuple[tuple[str, ...], bool, list[str]]:
    """``when:`` → (conditions, any-of?, problems). Accepted: a condition name, a list of
    names (all must hold), or ``{any: [...]}`` / ``{all: [...]}``."""
    from .situation import CONDITIONS

    if value is None:
        return (), False, []
    known = ", ".join(CONDITIONS)
    any_of = False
    if isinstance(value, dict):
        keys = list(value)
        if len(keys) != 1 or keys[0] not in ("any", "all"):
            return (), False, [f"write `when: [cond, ...]` (all must hold) or `when: {{any: [cond, ...]}}`; "
                               f"got the key(s) {', '.join(map(str, keys)) or 'none'}"]
        any_of = keys[0] == "any"
        value = value[keys[0]]
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        return (), False, [f"must name at least one condition ({known})"]
    problems = []
    for n in names:
        if not isinstance(n, str) or n not in CONDITIONS:
            import difflib

            close = difflib.get_close_matches(str(n), list(CONDITIONS), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(f"unknown condition {_show(n)}; {hint}known conditions: {known}")
    return tuple(str(n) for n in names), any_of, problems


def check_rubric(path: str | Path) -> list[str]:
    """All problems in a rubric file (empty when it is valid)."""
    try:
        load_rubric(path)
    except RubricError as exc:
        return exc.problems or [str(exc)]
    return []
