"""Acquisition rounds on the configured services: what ``pairloop round ...``, the REST API
and the demo run. Each function takes the settings, opens what it needs (the LLM, Label
Studio) and calls the steps in :mod:`pairloop.rounds`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from sqlalchemy import Engine, select

from annotator.label_studio import LabelStudio
from annotator.llm import Labeller, make_labeller
from annotator.webhooks import actor_of
from pairloop import service, studio
from pairloop.usecases import round_steps as rounds
from pairloop.console import err_console, progress_bar
from pairloop.settings import Settings
from pairloop.store_access import open_store
from pairloop.usecases.training import load_or_train, retrain_for_round
from store.errors import BadInput
from store.models import Round

Progress = Callable[[int], None]


def labeller_from_settings(settings: Settings) -> Labeller:
    """The configured labeller (``PAIRLOOP_LLM_*``); GGUF files are dequantised once into DATA_DIR."""
    with err_console.status("loading the LLM"):
        try:
            return make_labeller(
                settings.llm_backend,
                model=settings.llm_model,
                base_url=settings.llm_base_url,
                api_key=settings.llm_api_key,
                votes=settings.llm_votes,
                prompt_version=settings.llm_prompt_version,
                timeout_s=settings.llm_timeout_s,
                max_retries=settings.llm_max_retries,
                backoff_s=settings.llm_backoff_s,
                concurrency=settings.llm_concurrency,
                answer_mode=settings.llm_answer_mode,
                batch_size=settings.llm_batch_size,
                cache_dir=(settings.llm_model_cache or settings.data_path / "models").expanduser(),
            )
        except ValueError as exc:  # an unknown prompt version, a backend without its URL
            raise BadInput(f"LLM settings: {exc}") from None


def annotator_names(client: LabelStudio) -> dict[str, str]:
    """Display names (emails) of the store's Label Studio actors; the store keeps the ids."""
    return {actor_of(user_id): email for user_id, email in client.user_emails().items()}


def start_round(settings: Settings, strategy: str, size: int, seed: int | None,
                llm: str | None) -> dict[str, Any]:
    """Resume the unfinished round, or select a new one; then propose, gate and push it."""
    engine = open_store(settings)
    with engine.connect() as conn:
        round_id = rounds.unfinished_round(conn)
    resumed = round_id is not None
    if round_id is None:
        model, version = load_or_train(engine, settings)
        with progress_bar("selecting pairs") as advance:
            from active_learning.rounds import select_round

            round_id = select_round(
                engine, model, strategy, size, seed if seed is not None else _next_seed(engine),
                classifier_version=version, rule=settings.majority_rule,
                min_agreeing=settings.min_agreeing, progress=advance)
    summary: dict[str, Any] = {"round": round_id, "resumed": resumed}
    backend = llm or settings.llm_backend
    labeller_id = None
    if backend != "none":
        labeller = labeller_from_settings(settings.model_copy(update={"llm_backend": backend}))
        labeller_id = (labeller.model_name, labeller.prompt_version)
        gate = rounds.calibrate_gate(engine, *labeller_id, settings.llm_target_precision,
                                     settings.majority_rule, settings.min_agreeing)
        with progress_bar("LLM proposals") as advance:
            summary["proposals"] = vars(rounds.propose(engine, round_id, labeller, gate, advance))
    client = studio.connect(settings)
    with progress_bar("pushing to Label Studio") as advance:
        summary["label_studio_project"] = rounds.push(
            engine, round_id, client, labeller_id, settings.annotators_per_pair,
            partial(service.register_webhook, settings), advance)
    summary["status"] = round_status(engine, settings, round_id)
    engine.dispose()
    return summary


def _next_seed(engine: Engine) -> int:
    with engine.connect() as conn:
        last = conn.execute(select(Round.id).order_by(Round.id.desc()).limit(1)).scalar_one_or_none()
    return (last or 0) + 1


def round_status(engine: Engine, settings: Settings, round_id: int | None,
                 names: Mapping[str, str] | None = None) -> dict[str, Any]:
    return rounds.status(engine, round_id, settings.majority_rule, settings.min_agreeing,
                         settings.annotators_per_pair, names)


def sync_round(engine: Engine, settings: Settings, round_id: int,
               progress: Progress | None = None) -> dict[str, Any]:
    """Reconcile with Label Studio, read rulings, route new disputes."""
    return rounds.sync(engine, round_id, lambda: studio.connect(settings), settings.majority_rule,
                       settings.min_agreeing, settings.annotators_per_pair, annotator_names, progress,
                       partial(service.register_webhook, settings))


def adjudicate_round(engine: Engine, settings: Settings, round_id: int) -> dict[str, Any]:
    """Read rulings and route new disputes, without reconciling the verification project."""
    rounds.in_label_studio(engine, round_id)
    return rounds.adjudicate(engine, round_id, studio.connect(settings), settings.majority_rule,
                             settings.min_agreeing, settings.annotators_per_pair, annotator_names,
                             partial(service.register_webhook, settings))


def close_round(engine: Engine, settings: Settings, round_id: int,
                names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Derive verified labels (majority, adjudication), retrain, record metrics, close."""
    return rounds.close(engine, round_id, lambda: retrain_for_round(engine, settings),
                        settings.majority_rule, settings.min_agreeing, settings.annotators_per_pair, names)
