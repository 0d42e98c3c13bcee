"""Root conftest: loads the claim machinery (tests/plugin.py) before option parsing."""

pytest_plugins = ["tests.plugin", "pytester"]
