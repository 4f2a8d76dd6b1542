"""Benchmarks of Migrateway against the `flask db` command line and a bare Flask endpoint."""
