"""Flask-RESTX namespaces: each resource parses, calls the migration service, dumps."""
