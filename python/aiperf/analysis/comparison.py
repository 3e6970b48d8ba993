"""aiperf.compare(): the summary metrics of several runs side by side, with the change relative to a baseline."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from aiperf.analysis.runs import Run

__all__ = ["as_runs", "compare", "unique_labels"]

DEFAULT_STATS = ("avg", "p50", "p99")
# Timestamps, not performance: comparing them across runs says nothing.
_NOT_COMPARED = {"min_request_timestamp", "max_response_timestamp"}


def as_runs(runs: Sequence[Run | str | Path] | Run | str | Path) -> list[Run]:
    """Runs as given, artifact folders loaded."""
    from aiperf.analysis.runs import Run, load

    if isinstance(runs, (Run, str, Path)):
        runs = [runs]
    return [run if isinstance(run, Run) else load(run) for run in runs]


def unique_labels(runs: Sequence[Run]) -> list[str]:
    """Each run's label; repeated labels get " (2)", " (3)" … so columns and legends stay apart."""
    labels: list[str] = []
    seen: dict[str, int] = {}
    for run in runs:
        label = run.label
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return labels


def compare(runs: Sequence[Run | str | Path], *, stats: Sequence[str] = DEFAULT_STATS,
            metrics: Sequence[str] | None = None, baseline: int = 0) -> pd.DataFrame:
    """Summary metrics of several runs side by side.

    Rows: (metric, stat) for each metric any run has (`metrics` to choose), with `stats` for per-request metrics
    and the single value for per-run ones. Columns: `unit`, one column per run (its label: `name` or artifact
    folder name), then `<label> change %` for each other run: 100 x (run - baseline) / |baseline|.
    """
    import numpy as np
    import pandas as pd

    from aiperf.results.metrics import METRICS

    loaded = as_runs(runs)
    if not loaded:
        raise ValueError("compare: no runs given")
    if not 0 <= baseline < len(loaded):
        raise ValueError(f"compare: baseline {baseline} is not a run index (0..{len(loaded) - 1})")
    labels = unique_labels(loaded)
    present = [tag for tag in dict.fromkeys(t for run in loaded for t in run.summary) if tag not in _NOT_COMPARED]
    order = {tag: i for i, tag in enumerate(METRICS)}
    if metrics is None:
        chosen = sorted(present, key=lambda tag: (order.get(tag, len(order)), tag))
    else:
        missing = [tag for tag in metrics if tag not in present]
        if missing:
            raise ValueError(f"compare: no run has metric(s) {', '.join(missing)} (they have: {', '.join(present)})")
        chosen = list(metrics)

    index: list[tuple[str, str]] = []
    units: list[str] = []
    values: list[list[float]] = []
    for tag in chosen:
        blocks = [run.summary.get(tag) or {} for run in loaded]
        tag_stats = [s for s in stats if any(s in block for block in blocks)] or ["avg"]
        unit = str(next((block.get("unit") for block in blocks if block.get("unit")), ""))
        for stat in tag_stats:
            index.append((tag, stat))
            units.append(unit)
            values.append([_number(block.get(stat)) for block in blocks])

    table = np.array(values, dtype=float).reshape(len(index), len(loaded))
    frame = pd.DataFrame(table, columns=labels, index=pd.MultiIndex.from_tuples(index, names=["metric", "stat"]))
    frame.insert(0, "unit", units)
    base = table[:, baseline]
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, label in enumerate(labels):
            if i != baseline:
                change = 100.0 * (table[:, i] - base) / np.abs(base)
                frame[f"{label} change %"] = np.where(base != 0, change, np.where(table[:, i] == base, 0.0, np.nan))
    return frame


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")
