"""Real-browser tests: headless Chromium (Debian's) through Selenium against a real server.

A package, so that its ``conftest`` does not take the place of ``tests/conftest.py``
in ``sys.modules`` (the flow tests import helpers from that one by name).
"""
