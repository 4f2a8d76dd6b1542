"""The graph read from the files' text agrees with Alembic's own load on every form a revision
file comes in: templates old and new, and files edited by hand. Plain ones are read as text
(api/service/revision_headers.py), the rest imported."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from api.service.revision_headers import NotPlain, read_header
from tests.graph_agreement import assert_same
from tests.revision_graph import standard_graph

pytestmark = pytest.mark.usefixtures("sqlite_only")


# The forms a revision file comes in: templates old and new, and files edited by hand.
FORMS = {
    "flask_migrate": '''"""add users

Revision ID: {rev}
Revises: {down}
Create Date: 2026-01-02 03:04:05.000006

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '{rev}'
down_revision = {down_repr}
branch_labels = None
depends_on = None


def upgrade():
    pass
''',
    "annotated": '''"""add users

Revision ID: {rev}
Revises: {down}
Create Date: 2026-01-02 03:04:05.000006

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = "{rev}"
down_revision: Union[str, Sequence[str], None] = {down_repr}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass
''',
    "comments_first": """# -*- coding: utf-8 -*-
# a comment before the docstring
'''single-quoted docstring

Create Date: 2026-02-03 04:05:06
'''
revision = '{rev}'  # the id
down_revision = {down_repr}  # the parent
""",
    "no_docstring": """from alembic import op
revision = "{rev}"
down_revision = {down_repr}
""",
    "escaped_docstring": '''"""tab\\there

Create Date: 2026-02-03 04:05:06
"""
revision = '{rev}'
down_revision = {down_repr}
''',
    "raw_docstring": '''r"""raw \\d docstring"""
revision = '{rev}'
down_revision = {down_repr}
''',
    "multiline_tuple": '''"""multi-line"""
revision = '{rev}'
down_revision = (
    {down_repr},
)
branch_labels = ('multi',)
''',
    "mention_in_docstring": '''"""mentions
revision = 'not-this-one'
"""
revision = '{rev}'
down_revision = {down_repr}
''',
    "mention_in_body": '''"""a string below names another revision"""
revision = '{rev}'
down_revision = {down_repr}
SQL = """
revision = 'not-this-one'
"""
''',
    "concatenated": '''"""implicit concatenation"""
revision = '{rev}' ''
down_revision = {down_repr}
branch_labels = ['a_label']
''',
    "crlf": '"""windows\r\n\r\nCreate Date: 2026-03-04 05:06:07\r\n"""\r\n'
    "revision = '{rev}'\r\ndown_revision = {down_repr}\r\n",
    "computed": '''"""computed ids"""
PREFIX = "{rev}"[:5]
revision = PREFIX + "{rev}"[5:]
down_revision = {down_repr}
''',
    "no_down_revision_literal": '''"""down_revision set twice"""
revision = '{rev}'
down_revision = None
down_revision = {down_repr}
''',
    "indented_docstring": '''"""first line
    indented second line
"""
revision = '{rev}'
down_revision = {down_repr}
''',
}

PLAIN = {
    "flask_migrate",
    "annotated",
    "comments_first",
    "no_docstring",
    "mention_in_docstring",
    "concatenated",
    "crlf",
    *(() if sys.version_info >= (3, 13) else ("indented_docstring",)),
}


def write_forms(directory: Path) -> dict[str, tuple[str, Path]]:
    """One file of each form, in a line; form name -> (revision, path)."""
    (directory / "versions").mkdir(parents=True)
    down = None
    written = {}
    for index, (name, template) in enumerate(FORMS.items()):
        rev = f"{index:02d}{name.replace('_', '')[:6]}"
        text = template.format(rev=rev, down=down or "", down_repr=repr(down))
        if "def upgrade" not in text:
            text += "\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
        path = directory / "versions" / f"{rev}_{name}.py"
        path.write_bytes(text.encode())
        written[name] = (rev, path)
        down = rev
    return written


def test_every_form_of_file_reads_as_alembic_reads_it(tmp_path):
    m = standard_graph(tmp_path / "m")
    for f in (m.path / "versions").glob("*.py"):
        f.unlink()
    (m.path / "versions").rmdir()
    written = write_forms(m.path)
    assert_same(m.path)
    # The plain ones were read as text, the rest imported.
    for name, (rev, path) in written.items():
        if name in PLAIN:
            assert read_header(str(path)).revision == rev, name
        else:
            with pytest.raises(NotPlain):
                read_header(str(path))
