"""Options that several command groups share: one definition, one help text."""

from __future__ import annotations

import typer

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
RuleOpt = typer.Option(None, help="Majority rule (default: PAIRLOOP_MAJORITY_RULE).")
AgreeOpt = typer.Option(None, min=1, help="Agreeing human answers a verified label needs (default: setting; "
                        "1 for single-annotator sources such as BundleRec bundles).")
SnapshotOpt = typer.Option(None, "--snapshot", help="Snapshot version or folder (default: the newest).")
