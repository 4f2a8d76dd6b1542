"""A revision file's identifiers and docstring, read as text instead of executed.

Alembic imports every revision file to learn four names and a docstring; at ten thousand
files that is seconds of compiling, most of a cold start. Files in the plain form every
Alembic and Flask-Migrate template writes (a module docstring, then ``revision = '...'`` and
its siblings as literals on one line each) are read here as text; any other file is imported
as Alembic would, so an unusual file costs its own import and never a wrong answer.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

from alembic.config import Config
from alembic.script.base import _only_source_rev_file as REVISION_FILE
from alembic.util import coerce_resource_to_filename, load_python_file

NAMES = ("revision", "down_revision", "branch_labels", "depends_on")

# Lines that begin with one of the names; each must then be a plain assignment. Anchored on
# the newline, not with ^ and MULTILINE: the regex then skips to newlines instead of trying
# every position (twice as fast).
_MENTION = re.compile(rf"\n({'|'.join(NAMES)})\b([^\n]*)")
_MENTION_AT_START = re.compile(rf"({'|'.join(NAMES)})\b([^\n]*)")
# name[: annotation] = value   (the annotation as the newer templates write it)
_ASSIGNMENT = re.compile(r"^\s*(?::[^=\n]*)?=(?!=)\s*(.*?)\s*$")
# The common case in one match: = 'abc', = "abc" or = None, with an optional comment.
_SIMPLE_ASSIGNMENT = re.compile(
    r"""\s*(?::[^=\n]*)?=(?!=)\s*(?:'([^'\\\n]*)'|"([^"\\\n]*)"|None)\s*(?:#.*)?"""
)
_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.MULTILINE)
_STRING_PREFIX = re.compile(r"^[rRuUbBfF]{1,2}['\"]")
# Python 3.13 strips indentation from docstrings while compiling them.
_DEDENTS_DOCSTRINGS = sys.version_info >= (3, 13)


class NotPlain(Exception):
    """The file is outside the plain form; only importing it tells its values."""


@dataclass(frozen=True)
class Header:
    """What Alembic takes from a revision module: its identifiers, raw, and its docstring."""

    revision: Any
    down_revision: Any
    branch_labels: Any
    depends_on: Any
    doc: str | None
    path: str

    @classmethod
    def from_module(cls, module, path: str, revision: str | None = None) -> Header:
        """The header of an imported revision module (``revision`` where the file lacks one)."""
        return cls(
            revision=module.revision if revision is None else revision,
            down_revision=module.down_revision,
            branch_labels=getattr(module, "branch_labels", None),
            depends_on=getattr(module, "depends_on", None),
            doc=module.__doc__,
            path=path,
        )


def read_header(path: str, on_stat=None) -> Header:
    """The header of the revision file at ``path``, read as text.

    ``on_stat`` receives the file's (mtime, size) from before it was read.

    :raises NotPlain: the file is outside the plain form.
    """
    with open(path, "rb") as f:  # bytes, decoded here: a third faster than a text-mode read
        if on_stat is not None:
            st = os.fstat(f.fileno())
            on_stat((st.st_mtime_ns, st.st_size))
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotPlain(path) from None
    if "\r" in text:  # as Python reads source: universal newlines
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    coding = _CODING.search(text, 0, _second_line_end(text))
    if coding and coding.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise NotPlain(path)
    doc, body_start = _docstring(text)
    values: dict[str, Any] = {}
    for name, rest in _mentions(text, body_start):
        if name in values:
            raise NotPlain(path)
        simple = _SIMPLE_ASSIGNMENT.fullmatch(rest)
        if simple:
            quoted = simple.group(1) if simple.group(1) is not None else simple.group(2)
            values[name] = quoted  # None when the value is None
            continue
        assignment = _ASSIGNMENT.match(rest)
        if assignment is None:
            raise NotPlain(path)
        values[name] = _literal(assignment.group(1))
    if "revision" not in values or "down_revision" not in values:
        raise NotPlain(path)
    if not isinstance(values["revision"], str):
        raise NotPlain(path)
    return Header(
        revision=values["revision"],
        down_revision=values["down_revision"],
        branch_labels=values.get("branch_labels"),
        depends_on=values.get("depends_on"),
        doc=doc,
        path=path,
    )


def _mentions(text: str, start: int) -> list[tuple[str, str]]:
    """(name, rest of the line) for each line from ``start`` on that begins with one of NAMES."""
    if start > 0:  # text[start - 1] is the newline ending the docstring or a comment
        return _MENTION.findall(text, start - 1)
    first = _MENTION_AT_START.match(text)
    return ([first.groups()] if first else []) + _MENTION.findall(text)


def _second_line_end(text: str) -> int:
    first = text.find("\n")
    if first < 0:
        return len(text)
    second = text.find("\n", first + 1)
    return len(text) if second < 0 else second


def _docstring(text: str) -> tuple[str | None, int]:
    """The module docstring and where the code after it starts."""
    pos = 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end]
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        pos = end + 1
    else:
        return None, len(text)
    if text.startswith(('"""', "'''"), pos):
        quote = text[pos : pos + 3]
        close = text.find(quote, pos + 3)
        if close < 0:
            raise NotPlain("unterminated docstring")
        doc = text[pos + 3 : close]
        line_end = text.find("\n", close)
        line_end = len(text) if line_end < 0 else line_end
        rest = text[close + 3 : line_end].strip()
        if "\\" in doc or (rest and not rest.startswith("#")):
            raise NotPlain("docstring with escapes or code after it")
        if _DEDENTS_DOCSTRINGS and any(ln[:1] in (" ", "\t") for ln in doc.split("\n")[1:]):
            raise NotPlain("indented docstring")
        return doc, line_end
    line = text[pos : pos + 3]
    if _STRING_PREFIX.match(line) or not (line[:1].isalpha() or line[:1] in "_@"):
        raise NotPlain("a module that does not start with a plain docstring or code")
    return None, pos


def _literal(source: str) -> Any:
    try:
        value = ast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise NotPlain(source) from None
    items = (value,) if isinstance(value, str) else value
    if value is not None and not (
        isinstance(items, tuple | list) and all(isinstance(v, str) for v in items)
    ):
        raise NotPlain(source)
    return value


def version_locations(config: Config) -> list[str]:
    """The version directories Alembic reads for ``config``, absolute, in its order.

    Read from the Config, as ScriptDirectory.from_config does, without building one (that
    also prepends ``prepend_sys_path`` to sys.path, again on every call).
    """
    listed = config.get_version_locations_list()
    if listed:
        return [os.path.abspath(coerce_resource_to_filename(loc)) for loc in listed]
    root = coerce_resource_to_filename(config.get_alembic_option("script_location"))
    return [os.path.abspath(os.path.join(root, "versions"))]


def revision_files(config: Config) -> list[str] | None:
    """Every revision file's path, in the order Alembic loads them (a linked file under its
    real path, as Alembic loads it); None when the directory's settings (sourceless files,
    recursive version locations) leave the listing to Alembic."""
    if config.get_alembic_boolean_option("sourceless") or config.get_alembic_boolean_option(
        "recursive_version_locations"
    ):
        return None
    paths: list[str] = []
    seen: set[str] = set()
    for location in version_locations(config):
        real = os.path.realpath(location)
        if real in seen or not os.path.isdir(real):
            continue  # Alembic skips a location that is missing or already loaded
        seen.add(real)
        with os.scandir(real) as entries:
            files = sorted((e.name, e.is_symlink()) for e in entries if not e.is_dir())
        for name, linked in files:  # is_symlink comes with the listing: no stat per file
            if REVISION_FILE.match(name):
                path = os.path.join(real, name)
                paths.append(os.path.realpath(path) if linked else path)
    return paths


def stamps(paths: list[str]) -> tuple:
    """(path, mtime, size) of each file: what changes when a file is edited."""
    result = []
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            result.append((path, None, None))
        else:
            result.append((path, st.st_mtime_ns, st.st_size))
    return tuple(result)


def scan(config: Config) -> tuple[list[Header], tuple] | None:
    """Every revision file's header, in the order Alembic loads them, and their ``stamps``
    as they were before each file was read.

    None where Alembic must read the directory itself: the settings above, or a file without
    a ``revision`` (Alembic's legacy naming). Errors from importing a file that is not plain
    propagate, as from Alembic's own load.
    """
    paths = revision_files(config)
    if paths is None:
        return None
    headers: list[Header] = []
    seen: list[tuple] = []
    for path in paths:
        try:
            headers.append(read_header(path, seen.append))
        except NotPlain:
            module = load_python_file(os.path.dirname(path), os.path.basename(path))
            if not hasattr(module, "revision"):
                return None
            headers.append(Header.from_module(module, path))
        except FileNotFoundError:
            return None  # removed while listed: let Alembic's own load say what is there
    return headers, tuple((path, *stamp) for path, stamp in zip(paths, seen, strict=True))
