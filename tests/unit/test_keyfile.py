"""The embedded stack's key files: made once, kept private, the same for every reader."""

from __future__ import annotations

import stat
from pathlib import Path

from redress.keyfile import read_or_create


def test_a_key_file_is_made_once_private_and_then_only_read(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "secret.key"
    made = iter(["first", "second"])
    assert read_or_create(path, lambda: next(made)) == "first"
    assert read_or_create(path, lambda: next(made)) == "first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary left
