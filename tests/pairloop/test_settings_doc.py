"""docs/configuration.md documents every setting, from the class itself, and no file names a
``PAIRLOOP_*`` variable that is neither a setting nor documented as a test/benchmark variable."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pairloop import service, studio
from pairloop import settings_doc as doc
from pairloop.settings import GROUPS, Settings, env_name, setting_names

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bPAIRLOOP_[A-Z0-9_]*[*…]?")
SKIPPED_DIRS = {".git", ".venv", ".pairloop", "__pycache__", ".pytest_cache", ".ruff_cache"}
OUTPUTS = {REPO / "out", REPO / "benchmarks" / "results"}  # gitignored run outputs
ROW = re.compile(r"^\| `(PAIRLOOP_[A-Z0-9_]+)` \| (.*?) \| (.*?) \| (.*) \|$")


def _files(*suffixes: str, names: tuple[str, ...] = ()) -> list[Path]:
    """The repository's own files with one of these suffixes or names (no venv, caches or outputs)."""
    found = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")
                   and Path(root) / d not in OUTPUTS]
        found += [Path(root) / f for f in files if f.endswith(suffixes) or f in names]
    return found


def _unknown_names(paths: list[Path]) -> dict[str, list[str]]:
    """``PAIRLOOP_*`` names in these files that are neither settings nor documented variables; a
    prefix (``PAIRLOOP_LLM_*``, ``PAIRLOOP_FEATURE…``) must start some setting's name."""
    known = setting_names() | set(doc.OTHER_VARIABLES)
    unknown: dict[str, list[str]] = {}
    for path in paths:
        for name in set(NAME.findall(path.read_text(encoding="utf-8", errors="replace"))):
            if name.endswith(("_", "*", "…")):
                fine = any(k.startswith(name.rstrip("*…")) for k in known)
            else:
                fine = name in known
            if not fine:
                unknown.setdefault(name, []).append(path.name)
    return unknown


def _page_rows() -> dict[str, tuple[str, str, str]]:
    """variable → (type, default, meaning) as the committed page shows them (settings tables only)."""
    rows = {}
    for line in doc.PAGE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1)] = match.group(2, 3, 4)
    return rows


def test_the_committed_page_is_the_generated_one():
    assert doc.PAGE.exists(), f"docs/configuration.md is missing: run `{doc.REGENERATE}`"
    assert doc.PAGE.read_text(encoding="utf-8") == doc.render(), \
        f"docs/configuration.md is stale: run `{doc.REGENERATE}` to regenerate it"
    assert doc.main(["--check"]) == 0


def test_every_setting_is_on_the_page_with_its_real_default(monkeypatch):
    """The defaults shown are those of a Settings built with no environment and no .env."""
    for name in list(os.environ):
        if name.startswith("PAIRLOOP_"):
            monkeypatch.delenv(name)
    defaults = Settings(_env_file=None)
    rows = _page_rows()
    assert set(rows) == setting_names()
    for field, info in Settings.model_fields.items():
        _type, default, meaning = rows[env_name(field)]
        value = getattr(defaults, field)
        if value is None:
            assert default, field
            continue
        shown = getattr(value, "value", value)  # an enum member: its value
        assert default == (f"`{shown:g}`" if isinstance(shown, float) else f"`{shown}`"), field
        assert meaning == info.description


def test_the_page_names_what_an_unset_setting_derives(tmp_path):
    """Where the page says `$DATA_DIR/...`, the code derives exactly that."""
    rows = _page_rows()
    settings = Settings(_env_file=None, data_dir=tmp_path, database_url=None, label_studio_home=None,
                        service_url=None, service_host="10.1.2.3", service_port=9999)

    def shown(variable: str) -> str:
        return rows[variable][1].strip("`").replace("$DATA_DIR", str(tmp_path))

    assert shown("PAIRLOOP_DATABASE_URL") == settings.db_url
    assert Path(shown("PAIRLOOP_LABEL_STUDIO_HOME")) == studio.studio_home(settings)
    assert shown("PAIRLOOP_SERVICE_URL").replace("$SERVICE_HOST", "10.1.2.3").replace(
        "$SERVICE_PORT", "9999") == service.service_url(settings)
    assert service.secrets_dir(settings) == tmp_path / "secrets"
    for secret in ("PAIRLOOP_WEBHOOK_SECRET", "PAIRLOOP_API_TOKEN"):
        assert "`$DATA_DIR/secrets/`" in rows[secret][1]
    assert studio.run_dir(settings) == tmp_path / "studio"
    for kept in ("PAIRLOOP_LABEL_STUDIO_TOKEN", "PAIRLOOP_LABEL_STUDIO_PASSWORD"):
        assert "`$DATA_DIR/studio/`" in rows[kept][1]


def test_named_choices_and_versions_match_the_code():
    from annotator.llm.prompts import DEFAULT_PROMPT_VERSION
    from classifier.encoders import ENCODERS

    rows = _page_rows()
    assert f"`{DEFAULT_PROMPT_VERSION}`" in rows["PAIRLOOP_LLM_PROMPT_VERSION"][1]
    for encoder in ENCODERS:
        assert f"`{encoder}`" in rows["PAIRLOOP_FEATURES"][2]


def test_a_setting_missing_from_the_groups_stops_the_generator(monkeypatch):
    without = {title: tuple(n for n in names if n != "test_set") for title, names in GROUPS.items()}
    monkeypatch.setattr(doc, "GROUPS", without)
    with pytest.raises(ValueError, match=r"not in a group \['test_set'\]"):
        doc.render()


def test_the_check_mode_fails_on_a_stale_page(monkeypatch, tmp_path, capsys):
    stale = tmp_path / "configuration.md"
    stale.write_text(doc.render().replace("PAIRLOOP_TEST_SET", "PAIRLOOP_OLD_NAME"), encoding="utf-8")
    monkeypatch.setattr(doc, "PAGE", stale)
    assert doc.main(["--check"]) == 1
    assert f"run `{doc.REGENERATE}`" in capsys.readouterr().err
    assert doc.main([]) == 0 and stale.read_text(encoding="utf-8") == doc.render()


def test_the_docs_name_no_stale_variable():
    pages = [REPO / "README.md", REPO / "CONTRIBUTING.md", *_files(".md")]
    assert _unknown_names(pages) == {}


def test_the_code_reads_no_undocumented_variable():
    """A new ``PAIRLOOP_*`` read outside Settings must be documented (``OTHER_VARIABLES``)."""
    code = [p for p in _files(".py", ".toml", ".cfg", ".ini", names=("Makefile", "run")) if p != Path(__file__)]
    assert _unknown_names(code) == {}


def test_the_scanner_catches_a_stale_name(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Set PAIRLOOP_TESTSET (sic), PAIRLOOP_TEST_SET, PAIRLOOP_LLM_*, PAIRLOOP_FEAT… and "
                    "PAIRLOOP_NOPE_*.", encoding="utf-8")
    assert _unknown_names([page]) == {"PAIRLOOP_TESTSET": ["page.md"], "PAIRLOOP_NOPE_*": ["page.md"]}


def test_every_documented_other_variable_is_still_read_somewhere():
    code = "".join(p.read_text(encoding="utf-8") for p in _files(".py", names=("Makefile",)))
    assert [name for name in doc.OTHER_VARIABLES if name not in code] == []
