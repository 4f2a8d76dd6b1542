"""The reference for GET /current: a bare Flask endpoint returning a constant JSON body."""

from flask import Flask

app = Flask(__name__)

# The same shape and about the same size as Migrateway's answer, so only the work behind it differs.
BODY = {"current": ["0123456789ab"], "heads": ["0123456789ab"], "up_to_date": True, "pending": []}


@app.get("/current")
def current():
    return BODY
