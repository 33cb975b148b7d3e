"""Read `client.yaml` files and explain what is wrong with them in the consultant's terms.

A message names the file, the line, the key path (`sources[0].layout`) and what was expected,
with a "did you mean" when a close spelling exists.
"""

import difflib
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from pipelines.config.model import LAYOUTS, SLUG_PATTERN, ClientConfig

CONFIG_FILE_NAME = "client.yaml"


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so pydantic (not PyYAML) judges `2025-13-01`,
    and refuses a key given twice in one mapping (YAML would silently keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice (first on line {seen[key]})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _compose(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration file."""

    key_path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        key = self.key_path or "(top level)"
        return f"{where}{key}: {self.message}"


class ConfigError(Exception):
    """A configuration file that cannot be used, with every problem found in it."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''}"]
        lines += [f"  {problem}" for problem in problems]
        super().__init__("\n".join(lines))


def load_client_config(path: Path) -> ClientConfig:
    """Read and validate one `client.yaml`; raise `ConfigError` naming every problem."""
    slug = path.parent.name
    if not SLUG_PATTERN.match(slug):
        raise ConfigError(
            path,
            [
                Problem(
                    "",
                    None,
                    f"client folder name {slug!r} is not a valid slug "
                    "(lowercase letters, digits and hyphens, e.g. 'menuiseries-rhone')",
                )
            ],
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [Problem("", None, "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [Problem("", None, f"not UTF-8 text ({exc.reason})")]) from None
    try:
        root = _compose(text)
        data = _Loader("").construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [Problem("", line, f"invalid YAML: {problem}")]) from None
    if data is None:
        raise ConfigError(path, [Problem("", None, "the file is empty")])
    if not isinstance(data, dict):
        raise ConfigError(
            path, [Problem("", 1, f"expected a mapping of keys, got {type(data).__name__}")]
        )
    try:
        return ClientConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error, root) for error in exc.errors()]
        problems.sort(key=lambda problem: problem.line or 0)
        raise ConfigError(path, problems) from None


def _problem(error: ErrorDetails, root: yaml.Node | None) -> Problem:
    loc = _clean_loc(error["loc"])
    kind = error["type"]
    given = error.get("input")
    ctx = error.get("ctx", {})
    if kind == "missing":
        parent, key = loc[:-1], loc[-1]
        return Problem(_path(parent), _line(root, parent), f"missing required key {key!r}")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1], root)
        return Problem(
            _path(loc),
            _line(root, loc, key_line=True),
            f"unknown key {key!r}{_did_you_mean(key, allowed)}; expected one of: "
            + ", ".join(allowed),
        )
    if kind == "union_tag_invalid":
        loc = (*loc, str(ctx.get("discriminator", "layout")).strip("'"))
    if kind in ("literal_error", "union_tag_invalid"):
        expected = ctx.get("expected") or ctx.get("expected_tags", "")
        options = re.findall(r"'([^']*)'", str(expected))
        got = (
            given.get(loc[-1]) if kind == "union_tag_invalid" and isinstance(given, dict) else given
        )
        return Problem(
            _path(loc),
            _line(root, loc),
            f"expected one of {', '.join(repr(o) for o in options)}, got {got!r}"
            f"{_did_you_mean(str(got), options)}",
        )
    if kind == "union_tag_not_found":
        return Problem(
            _path(loc),
            _line(root, loc),
            f"missing required key {ctx.get('discriminator', '').strip(chr(39))!r} "
            f"(one of {', '.join(LAYOUTS)})",
        )
    if kind.startswith("date_"):
        return Problem(
            _path(loc), _line(root, loc), f"expected a date like 2025-03-01, got {given!r}"
        )
    if kind == "value_error":
        return Problem(_path(loc), _line(root, loc), str(ctx.get("error", error["msg"])))
    if kind == "bool_parsing":
        return Problem(_path(loc), _line(root, loc), f"expected true or false, got {given!r}")
    message = error["msg"][0].lower() + error["msg"][1:]
    return Problem(_path(loc), _line(root, loc), f"{message}, got {given!r}")


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop what pydantic inserts in a path: the union tag (`sources.0.wide.rows` ->
    `sources.0.rows`) and the marker of a dict key (`columns.revenu_eur.[key]`)."""
    if len(loc) > 2 and loc[0] == "sources" and loc[2] in LAYOUTS:
        loc = (*loc[:2], *loc[3:])
    return tuple(part for part in loc if part != "[key]")


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _node_at(root: yaml.Node | None, loc: tuple[int | str, ...]) -> tuple[yaml.Node | None, int]:
    """The YAML node at a key path, and the line of the deepest key found on the way."""
    node, line = root, (root.start_mark.line + 1 if root is not None else 0)
    for part in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return None, line
            node = node.value[part]
            line = node.start_mark.line + 1
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    line = key_node.start_mark.line + 1
                    node = value_node
                    break
            else:
                return None, line
        else:
            return None, line
    return node, line


def _line(root: yaml.Node | None, loc: tuple[int | str, ...], key_line: bool = False) -> int | None:
    node, line = _node_at(root, loc)
    if node is not None and not key_line:
        return node.start_mark.line + 1
    return line or None


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed_keys(loc: tuple[int | str, ...], root: yaml.Node | None) -> list[str]:
    """The keys the model at `loc` accepts, following lists, dicts and the layout union."""
    target: object = ClientConfig
    for depth, part in enumerate(loc):
        target = _unwrap(target)
        if isinstance(part, int):
            target = typing.get_args(target)[0] if typing.get_args(target) else target
            target = _unwrap(target)
            members = [m for m in _union_members(target) if _is_model(m)]
            if len(members) > 1:
                node, _ = _node_at(root, (*loc[: depth + 1], "layout"))
                tag = node.value if node is not None else None
                target = next(
                    (
                        m
                        for m in members
                        if tag in typing.get_args(m.model_fields["layout"].annotation)
                    ),
                    members[0],
                )
        elif _is_model(target) and part in target.model_fields:
            target = target.model_fields[str(part)].annotation
        elif typing.get_origin(target) is dict:
            target = typing.get_args(target)[1]
    target = _unwrap(target)
    return list(target.model_fields) if _is_model(target) else []


def _unwrap(target: object) -> object:
    while typing.get_origin(target) is typing.Annotated:
        target = typing.get_args(target)[0]
    members = [m for m in _union_members(target) if m is not type(None)]
    return members[0] if len(members) == 1 else target


def _union_members(target: object) -> tuple[object, ...]:
    if typing.get_origin(target) in (typing.Union, types.UnionType):
        return tuple(_unwrap(m) for m in typing.get_args(target))
    return (target,)


def _is_model(target: object) -> bool:
    return isinstance(target, type) and issubclass(target, BaseModel)
