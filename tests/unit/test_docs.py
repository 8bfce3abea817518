"""README's flag table is written by hand: every setting of `Config` must appear in it."""

from __future__ import annotations

from beemo.config import options
from tests.support import ROOT


def test_every_flag_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        option.flags[0]
        for _, option, _ in options()
        if option.kind != "positional" and option.flags[0] not in readme
    ]
    assert not missing, f"README.md does not document {missing}"
