"""The reference of case 9: the smallest Flask-Migrate application a team has, migrated one
tenant at a time by a shell loop of `flask --app bench.tenant_app db upgrade`, with
DATABASE_URL naming the tenant and MIGRATIONS_DIR the migrations directory."""

import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
db = SQLAlchemy(app)
Migrate(app, db, directory=os.environ["MIGRATIONS_DIR"])
