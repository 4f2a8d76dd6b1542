"""The embedded default application's models: what `flask db migrate` compares against."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, mapped_column

from api import db


class User(db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(db.String(64))
