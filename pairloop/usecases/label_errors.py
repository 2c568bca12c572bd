"""Verified labels that are likely wrong (`pairloop labels suspects`), and how well they are found
when the wrong labels are known (`pairloop labels noise-experiment`).

Flagging reads the store and changes nothing in it: a flagged pair keeps every label it has,
and only an adjudicator's ruling can change its verified label (see :mod:`store.verified`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from pairloop.usecases.context import Context
from store.errors import BadInput

if TYPE_CHECKING:
    from classifier.data import PairSet


class SuspectPair(BaseModel):
    pair_id: int
    given: str = Field(description="Its verified label.")
    suggested: str = Field(description="The committee's most probable relation, out of fold.")
    quality: float = Field(description="Label-quality score under the ranking (0..1, lower: more likely wrong).")


class SuspectsResult(BaseModel):
    """Verified labels confident learning finds likely wrong, most suspect first."""

    verified: int = Field(description="Verified labels examined.")
    classes: dict[str, int] = Field(description="Verified labels per relation.")
    folds: int
    seed: int
    features: str = Field(description="The item encoder of the committees.")
    ranked_by: str = Field(description="The label-quality score that ranks and selects the flags.")
    flagged: int = Field(description="Pairs flagged.")
    suspects: list[SuspectPair]


def _check_folds(labelled: PairSet, folds: int, what: str) -> None:
    """BadInput unless every class can be split over ``folds`` folds."""
    if folds < 2:
        raise BadInput(f"--folds must be at least 2, got {folds}")
    small = {name: n for name, n in labelled.classes().items() if n < folds}
    if small:
        few = ", ".join(f"{name} ({n})" for name, n in small.items())
        raise BadInput(f"{what}: {folds} folds need at least {folds} labels per relation; {few} have fewer",
                       labelled.source)


def label_suspects(ctx: Context, folds: int = 5, seed: int = 0) -> SuspectsResult:
    """Score every verified pair with committees that never saw it and flag the likely wrong labels."""
    from classifier.data import require_labelled, store_labelled_pairs
    from classifier.label_errors import DEFAULT_RANKING, find_suspects, out_of_fold_proba

    settings = ctx.settings
    with ctx.engine.connect() as conn:
        labelled = store_labelled_pairs(conn, settings.majority_rule, settings.min_agreeing)
    labelled = require_labelled(labelled, "the store's verified labels")
    _check_folds(labelled, folds, "the store's verified labels")
    with ctx.progress.task(f"{folds}-fold committees", folds) as on_fold:
        proba, classes = out_of_fold_proba(labelled, folds, settings.features, seed, on_fold=on_fold)
    with ctx.progress.status("finding label issues"):
        suspects = find_suspects(labelled, proba, classes, DEFAULT_RANKING)
    return SuspectsResult(
        verified=len(labelled), classes=labelled.classes(), folds=folds, seed=seed, features=settings.features,
        ranked_by=DEFAULT_RANKING, flagged=len(suspects),
        suspects=[SuspectPair(pair_id=int(s.key), given=s.given, suggested=s.suggested, quality=round(s.quality, 4))
                  for s in suspects])


class NoiseRunResult(BaseModel):
    share: float = Field(description="Share of the file's majority labels flipped.")
    seed: int = Field(description="Which labels were flipped, and the folds.")
    ranked_by: str
    wrong: int = Field(description="Labels flipped.")
    flagged: int
    found: int = Field(description="Flagged labels that were flipped.")
    precision: float
    recall: float
    average_precision: float = Field(description="Of the whole ranking at finding the flipped labels.")


class NoiseExperiment(BaseModel):
    """Precision and recall of the flags on a labelled file with labels flipped on purpose (also results.json)."""

    input: str
    labelled: int = Field(description="Pairs of the file with a majority label.")
    folds: int
    features: str
    runs: list[NoiseRunResult]
    json_path: str = Field(alias="json", description="The written results.json.")
    png_path: str = Field(alias="png", description="The written results.png.")

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)  # "json" is a BaseModel method


def noise_experiment(ctx: Context, input: Path, shares: list[float], seeds: list[int], out: Path,
                     folds: int = 5) -> NoiseExperiment:
    """Flip each share of the file's majority labels under each seed, flag, and measure precision
    and recall against the flipped labels; write results.json and results.png in ``out``."""
    from classifier.data import read_pair_file, require_labelled
    from classifier.label_errors import noise_runs, plot_noise_runs
    from store.files import write_together

    if not shares or any(not 0.0 < s < 1.0 for s in shares):
        raise BadInput(f"--shares must each lie strictly between 0 and 1, got {shares}")
    if not seeds:
        raise BadInput("--seeds names no seed")
    settings = ctx.settings
    with ctx.progress.status(f"reading {input.name}"):
        labelled = require_labelled(read_pair_file(input, None, settings.majority_rule, settings.min_agreeing),
                                    str(input))
    _check_folds(labelled, folds, str(input))
    runs = []
    with ctx.progress.task("noise runs (folds)", len(shares) * len(seeds) * folds) as on_fold:
        for share in shares:
            for seed in seeds:
                runs += noise_runs(labelled, share, seed, folds, settings.features, on_fold=on_fold)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "results.json", out / "results.png"
    result = NoiseExperiment(
        input=str(input), labelled=len(labelled), folds=folds, features=settings.features, json=str(json_path),
        png=str(png_path),
        runs=[NoiseRunResult(share=r.share, seed=r.seed, ranked_by=r.ranked_by, wrong=r.detection.wrong,
                             flagged=r.detection.flagged, found=r.detection.found,
                             precision=round(r.detection.precision, 4), recall=round(r.detection.recall, 4),
                             average_precision=round(r.average_precision, 4)) for r in runs])
    write_together({
        json_path: lambda staging: staging.write_text(result.model_dump_json(indent=2), encoding="utf-8"),
        png_path: lambda staging: plot_noise_runs(runs, staging, f"label-error flags on {input.name} "
                                                  f"({len(labelled):,} labels, {folds} folds)"),
    })
    return result
