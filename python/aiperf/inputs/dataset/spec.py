"""What a dataset is built from: frozen specs taken once from the ProfileConfig, instead of keyword arguments
threaded through every loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiperf.config import ProfileConfig

__all__ = ["ConversationSpec", "DatasetSpec", "SyntheticPromptSpec"]


@dataclass(frozen=True, kw_only=True)
class SyntheticPromptSpec:
    """Synthetic prompts: `num_entries` turns of `batch_size` prompts each; lengths ~ normal(mean, stddev) tokens,
    rounded, at least 1. `osl_mean` None: no requested output length (the server decides).

    `exact_lengths=True`: every prompt re-encodes to its length (needs the tokenizer). False (what `aiperf profile`
    uses): prompts joined from the corpus cache where the tokenizer allows it (see synthetic.PromptSource).
    """

    num_entries: int = 100
    isl_mean: int = 550
    isl_stddev: float = 0.0
    osl_mean: int | None = None
    osl_stddev: float = 0.0
    batch_size: int = 1
    exact_lengths: bool = True


@dataclass(frozen=True, kw_only=True)
class ConversationSpec:
    """Synthetic multi-turn conversations: turns per conversation and think time (ms) before each later turn."""

    num_conversations: int | None = None  # None: as many as SyntheticPromptSpec.num_entries
    turns_mean: int = 1
    turns_stddev: float = 0.0
    turn_delay_mean_ms: float = 0.0
    turn_delay_stddev_ms: float = 0.0

    @property
    def multi_turn(self) -> bool:
        return self.turns_mean > 1 or self.turns_stddev > 0


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    """The source of a run's conversations: `input_file` when given, else synthetic prompts; one seed for all."""

    input_file: Path | None = None
    dataset_type: str | None = None  # --custom-dataset-type (None: single_turn)
    random_seed: int | None = None
    prompts: SyntheticPromptSpec = field(default_factory=SyntheticPromptSpec)
    conversations: ConversationSpec = field(default_factory=ConversationSpec)

    @classmethod
    def from_config(cls, config: ProfileConfig) -> DatasetSpec:
        """The dataset of a profile run (fast synthetic prompts: the run counts their tokens itself)."""
        return cls(
            input_file=Path(config.input_file) if config.input_file else None,
            dataset_type=config.custom_dataset_type,
            random_seed=config.random_seed,
            prompts=SyntheticPromptSpec(
                num_entries=config.num_dataset_entries, isl_mean=config.synthetic_input_tokens_mean,
                isl_stddev=config.synthetic_input_tokens_stddev, osl_mean=config.output_tokens_mean,
                osl_stddev=config.output_tokens_stddev, batch_size=config.prompt_batch_size, exact_lengths=False),
            conversations=ConversationSpec(
                num_conversations=config.conversation_num, turns_mean=config.conversation_turn_mean,
                turns_stddev=config.conversation_turn_stddev,
                turn_delay_mean_ms=config.conversation_turn_delay_mean,
                turn_delay_stddev_ms=config.conversation_turn_delay_stddev),
        )
