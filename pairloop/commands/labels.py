"""``pairloop labels suspects|noise-experiment``: verified labels that are likely wrong."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Column, Table

from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.label_errors import AnnotatorFlags, label_suspects, noise_experiment
from pairloop.usecases.rounds import adjudicate_suspects
from store.errors import BadInput

app = typer.Typer(help="Find verified labels that are likely wrong (confident learning); measure how well.",
                  no_args_is_help=True)

FoldsOpt = typer.Option(5, "--folds", min=2, help="Stratified folds of the out-of-fold committees.")


def _numbers(text: str, kind: type, option: str) -> list:
    """A comma-separated list of numbers, or BadInput naming the option."""
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadInput(f"{option} takes comma-separated numbers, got {text!r}") from None


@app.command("suspects")
def suspects(
    folds: int = FoldsOpt,
    seed: int = typer.Option(0, help="Random seed of the folds and the committees."),
    limit: int = typer.Option(30, min=0, help="Rows shown in the table (0: all; --json lists all)."),
    send: bool = typer.Option(False, "--send", help="Send the flagged pairs to the adjudication project of the "
                                                    "round (open, in Label Studio); its close waits for the rulings."),
    round_id: int | None = typer.Option(None, "--round", help="The round --send uses (default: the newest)."),
    by_annotator: bool = typer.Option(False, "--by-annotator", help="Also per annotator: its answers, those on "
                                                                    "flagged pairs, and how often the flags doubt "
                                                                    "them (which annotator the flags point at)."),
    as_json: bool = JsonOpt,
) -> None:
    """Verified labels the committee, trained without them, finds likely wrong; nothing in the store changes.

    With --send, the flagged pairs go to a round's adjudication project, each with a note saying
    why; their labels are kept, and the adjudicator's ruling decides the verified label."""
    if round_id is not None and not send:
        raise BadInput("--round names the round that --send sends to: give --send too")
    if by_annotator and send:
        raise BadInput("--by-annotator reports on the flags; --send routes them: give one of the two")
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        if send:
            sent = adjudicate_suspects(ctx, round_id, folds, seed)
        else:
            result = label_suspects(ctx, folds, seed, by_annotator)
    if send:
        if as_json:
            emit_json(sent)
        else:
            console.print(f"{sent.flags.flagged} flagged labels: {len(sent.routed)} sent to the adjudication of round "
                          f"{sent.round} (Label Studio project {sent.adjudication_project}), "
                          f"{len(sent.already_routed)} there already")
        return
    if as_json:
        emit_json(result)
        return
    console.print(f"{result.flagged:,} of {result.verified:,} verified labels flagged "
                  f"({result.folds} folds, ranked by {result.ranked_by})")
    if result.suspects:
        table = Table("pair", "verified label", "committee suggests", "quality")
        for s in result.suspects[: limit or None]:
            table.add_row(str(s.pair_id), s.given, s.suggested, f"{s.quality:.3f}")
        console.print(table)
    if result.annotators is not None:
        _print_annotators(result.annotators)


def _print_annotators(rows: list[AnnotatorFlags]) -> None:
    table = Table(Column("annotator", no_wrap=True), "answers", "≠ verified", "on flagged", "= flagged",
                  "≠ suggested", "doubted", title="per annotator, most doubted first",
                  caption="≠ verified: answers other than the verified label; on flagged pairs: = flagged: "
                          "answers equal to the flagged label, ≠ suggested: other than the committee's suggestion; "
                          "doubted: ≠ suggested / answers")
    for row in rows:
        table.add_row(row.name, str(row.answers), str(row.against_verified), str(row.on_flagged),
                      str(row.same_as_flagged), str(row.against_suggestion), f"{row.doubted_share:.1%}")
    console.print(table)


@app.command("noise-experiment")
def noise_experiment_command(
    input: Path = typer.Option(..., "--input", help="A labelled pair file (its majority labels are the truth)."),
    shares: str = typer.Option("0.05,0.1,0.2", help="Shares of labels to flip, comma-separated."),
    seeds: str = typer.Option("0,1", help="Seeds (which labels flip, and the folds), comma-separated."),
    out: Path = typer.Option(..., "--out", help="Folder for results.json and results.png."),
    folds: int = FoldsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Flip shares of a file's majority labels at random and measure precision and recall of the flags."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = noise_experiment(ctx, input, _numbers(shares, float, "--shares"), _numbers(seeds, int, "--seeds"),
                                  out, folds)
    if as_json:
        emit_json(result)
        return
    table = Table("share", "seed", Column("ranked by", min_width=len("normalized_margin")), "wrong", "flagged",
                  "precision", "recall", "AP", show_edge=False,
                  title=f"{Path(result.input).name}: {result.labelled:,} labels, {result.folds} folds")
    for r in result.runs:
        table.add_row(f"{r.share:g}", str(r.seed), r.ranked_by, str(r.wrong), str(r.flagged),
                      f"{r.precision:.3f}", f"{r.recall:.3f}", f"{r.average_precision:.3f}")
    console.print(table)
    console.print(f"wrote {result.json_path} and {result.png_path}")
