"""``pairloop llm label|agreement`` end to end, and its bad input and faults."""

from __future__ import annotations

import csv
import json

import pytest

from pairloop.settings import get_settings
from store.models import AgreementReport, Label, LlmProposal
from tests.annotator.llm.conftest import free_port, rows_of


@pytest.mark.llm
@pytest.mark.slow
def test_agreement_then_label_on_real_fbl_pairs(llm_cli, sqlite_url, datasets, tmp_path):
    fbl = datasets / "fbl" / "FBL2023.tsv"
    report = tmp_path / "report"
    result = llm_cli("llm", "agreement", "--input", fbl, "--limit", 4, "--out", report, "--json")
    m = json.loads(result.stdout)
    assert m["model"] == "local:SmolLM2-135M-Instruct.Q4_1" and m["prompt_version"] == "fbl9-v2"
    assert m["pairs"] == 4 and sum(m["status"].values()) == 4 and m["status"]["unlabelled"] == 0
    assert sum(map(sum, m["confusion"]["matrix"])) == m["answered"] == 4
    assert 0 <= m["accuracy"] <= 1 and -1 <= m["kappa"] <= 1
    assert m["human_relations"] == {"unrelated": 2, "complementary": 2}  # the file's first 4 majorities
    # four pairs can never prove 95% precision: the gate stays closed
    assert m["gate"]["threshold"] is None and m["gate_coverage"] == 0
    # four pairs have not earned pre-selection: rounds would show this proposer as a suggestion
    assert m["preannotation"]["policy"] == "suggest" and m["preannotation"]["reason"]
    assert json.loads((report / "agreement.json").read_text())["kappa"] == m["kappa"]
    assert (report / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rows_of(sqlite_url, LlmProposal) == 4 and rows_of(sqlite_url, AgreementReport) == 1
    assert rows_of(sqlite_url, Label) == 0  # the file's human labels were not imported

    out = tmp_path / "proposals.csv"
    result = llm_cli("llm", "label", "--input", fbl, "--limit", 5, "--out", out, "--json")
    summary = json.loads(result.stdout)
    assert summary["pairs"] == 5 and summary["auto_accept"] == 0 and summary["gate_threshold"] is None
    assert rows_of(sqlite_url, LlmProposal) == 5  # four came from the cache, one was asked
    with out.open(encoding="utf-8") as stream:
        written = list(csv.DictReader(stream))
    assert len(written) == 5 and written[0]["item_a"] == "https://www.askul.co.jp/p/235105/"
    assert {r["status"] for r in written} <= {"agreed", "disputed"}
    assert all(r["proposed_relation"] in ("complementary", "substitute", "unrelated") for r in written)


def test_bad_input_is_exit_2_and_writes_nothing(sqlite_cli, tmp_path, monkeypatch):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("item_a,item_b,title_a,title_b\np1,p2,tent,sleeping bag\n")
    out = tmp_path / "out.csv"
    missing = sqlite_cli("llm", "label", "--input", tmp_path / "nope.tsv", "--out", out, expect=2)
    assert "nope.tsv: no such file" in missing.stderr
    wrong = sqlite_cli("llm", "label", "--input", pairs, "--out", tmp_path / "out.txt", expect=2)
    assert "must end in .csv or .jsonl" in wrong.stderr
    unlabelled = sqlite_cli("llm", "agreement", "--input", pairs, expect=2)
    assert "no pair in the file has a human majority label" in unlabelled.stderr
    monkeypatch.setenv("PAIRLOOP_LLM_MODEL", str(tmp_path / "models" / "missing.gguf"))
    get_settings.cache_clear()
    no_model = sqlite_cli("llm", "label", "--input", pairs, "--out", out, expect=2)
    assert f"{tmp_path / 'models' / 'missing.gguf'}: LLM model path does not exist" in no_model.stderr
    assert not out.exists()


def test_an_endpoint_that_stays_down_is_exit_1_and_resumable(sqlite_cli, tmp_path, monkeypatch):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("item_a,item_b,title_a,title_b\np1,p2,tent,sleeping bag\n")
    url = f"http://127.0.0.1:{free_port()}/v1"
    for key, value in {"BACKEND": "openai", "BASE_URL": url, "MODEL": "any", "MAX_RETRIES": "1",
                       "BACKOFF_S": "0.01"}.items():
        monkeypatch.setenv(f"PAIRLOOP_LLM_{key}", value)
    out = tmp_path / "out.jsonl"
    result = sqlite_cli("llm", "label", "--input", pairs, "--out", out, expect=1)
    assert f"the LLM endpoint {url}/chat/completions did not answer after 2 attempts" in result.stderr
    assert "run the command again to resume" in result.stderr
    assert not out.exists()
