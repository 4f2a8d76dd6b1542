"""What gunicorn serves: `gunicorn wsgi:app`."""

import sys

from api import create_app
from api.config import ConfigurationError

try:
    app = create_app()
except ConfigurationError as err:
    # One line instead of a traceback, for `flask --app wsgi` and a gunicorn started without
    # api.gunicorn_conf (which checks first). 4 is gunicorn's "App failed to load": its master
    # then stops instead of booting the worker again and again.
    print(f"Migrateway cannot start: {err}", file=sys.stderr)
    sys.exit(4)
