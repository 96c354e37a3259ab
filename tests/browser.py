"""Where the browser tests find Chromium: BOT_TEST_CHROMIUM, else a `chromium` (Debian's
package) on the PATH. Never a browser downloaded by a test tool. Without one the browser
tests fail, saying how to get one (README.md, "Running the tests")."""

from __future__ import annotations

import os
import shutil

import pytest

NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str:
    given = os.environ.get("BOT_TEST_CHROMIUM")
    if given:
        return given
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "no Chromium for the console's browser tests: install Debian's `chromium` "
        "(`apt-get install chromium`), or point BOT_TEST_CHROMIUM at a Chromium or Chrome "
        "binary, or leave these tests out with `make test BROWSER=no` (README.md)",
        pytrace=False,
    )
