"""Files written whole or not at all (store/files.py)."""

from __future__ import annotations

import pytest

from store.files import atomic_open, atomic_path, write_text_atomic, write_together


def test_a_file_appears_only_when_complete_and_a_failure_leaves_the_old_one(tmp_path):
    target = tmp_path / "out" / "report.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_open(target) as stream:
        stream.write("half")
        raise RuntimeError("killed half-way")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


def test_a_staging_folder_is_published_or_removed(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_path(target) as staging:
        staging.mkdir()
        (staging / "weights.bin").write_bytes(b"x")
        raise RuntimeError("save failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as staging:
        staging.mkdir()
        (staging / "weights.bin").write_bytes(b"x")
    assert (target / "weights.bin").read_bytes() == b"x" and list(tmp_path.iterdir()) == [target]


def test_files_that_belong_together_are_published_together_or_not_at_all(tmp_path):
    json_path, png_path = tmp_path / "curve.json", tmp_path / "curve.png"

    def broken(_staging):
        raise ValueError("plotting failed")

    with pytest.raises(ValueError):
        write_together({json_path: lambda p: p.write_text("{}"), png_path: broken})
    assert list(tmp_path.iterdir()) == []
    write_together({json_path: lambda p: p.write_text("{}"), png_path: lambda p: p.write_bytes(b"png")})
    assert json_path.read_text() == "{}" and png_path.read_bytes() == b"png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.json", "curve.png"]
