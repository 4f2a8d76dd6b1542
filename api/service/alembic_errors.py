"""Alembic's failures said as the service's problems (unresolved revision, unloadable directory)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic.script import revision as alembic_revision
from alembic.script.revision import RevisionMap
from alembic.util import CommandError

from api import exceptions
from api.service.project_files import raised_at


@contextmanager
def revision_errors(revisions: RevisionMap) -> Iterator[None]:
    """Turn Alembic's revision-resolution errors into the service's domain errors."""
    try:
        yield
    except (CommandError, alembic_revision.RevisionError) as exc:
        cause = exc if isinstance(exc, alembic_revision.RevisionError) else exc.__cause__
        if isinstance(cause, alembic_revision.MultipleHeads):
            raise exceptions.MultipleHeads(
                f"'{cause.argument}' matches several heads; name one of them, "
                "use '<label>@head', or 'heads' for all.",
                heads=sorted(cause.heads),
            ) from None
        if isinstance(cause, alembic_revision.ResolutionError):
            prefix = cause.argument or ""
            candidates = sorted(r for r in revisions._revision_map if r and r.startswith(prefix))
            if len(candidates) > 1 and str(cause).startswith("Multiple revisions start"):
                raise exceptions.AmbiguousRevision(
                    f"'{prefix}' is the start of several revisions; give more characters.",
                    revision=prefix,
                    candidates=candidates,
                ) from None
            raise exceptions.UnknownRevision(
                f"No revision, branch label or symbol is named '{prefix}'.", revision=prefix
            ) from None
        raise exceptions.RevisionConflict(str(exc)) from None
    except AssertionError:
        # Alembic asserts, rather than raising, on some relative steps past either end of the
        # graph ("head+1", "label@-1" at the label's root).
        raise exceptions.RevisionConflict(
            "The target steps past the ends of the revision graph."
        ) from None


def migrations_unavailable(
    exc: Exception, roots: list[str] | None = None
) -> exceptions.MigrationsUnavailable:
    """The problem for a migrations directory that does not load, naming the file (under
    ``roots``, the project's directories) where the error was raised."""
    at = raised_at(exc, roots) if roots else None
    where = f"{at[0]}, line {at[1]}: " if at else ""
    return exceptions.MigrationsUnavailable(
        f"The migrations directory does not load: {where}{type(exc).__name__}: {exc}",
        **({"file": at[0], "line": at[1]} if at else {}),
    )
