"""End-to-end browser tests. A package, so that its conftest.py is `e2e.conftest` and never
shadows tests/conftest.py, which other tests import as `conftest`."""
