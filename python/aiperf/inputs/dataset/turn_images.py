"""Images of a dataset's turns: input-file references resolved (and checked) once, synthetic images added.

Runs after the texts are loaded and before any request is built, so every bad image is an input error naming the
file, the line and the field (or the option) before the first request.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aiperf.inputs.dataset.types import Conversation, InputFileError
from aiperf.inputs.input_images import ImageError, InputImage, SyntheticImageSpec, resolve_image, synthetic_images

__all__ = ["attach_images"]

# numpy seed-sequence key that separates the image stream from the prompt stream of the same --random-seed
_IMAGE_STREAM = 0x1A6E


def attach_images(
    conversations: list[Conversation],
    *,
    input_file: Path | None,
    spec: SyntheticImageSpec,
    random_seed: int | None,
    require_image: bool = False,
    endpoint_type: str = "",
) -> None:
    """Fill `turn.image_inputs` of every turn, in place.

    With an input file, each turn's `images` are resolved (a local path is read and checked; http(s) URLs are kept
    as URLs; data URLs are checked). Without one, when the --image-width/height means are > 0, every synthetic turn
    gets `spec.batch_size` synthetic images (same seed, same images). `require_image` (image_edit): a turn without
    an image is an input error.
    """
    if input_file is not None:
        cache: dict[str, InputImage] = {}
        base_dir = Path(input_file).parent
        for conversation in conversations:
            for turn in conversation.turns:
                field_name = "image" if len(turn.images) == 1 else "images"
                for index, reference in enumerate(turn.images):
                    try:
                        turn.image_inputs.append(resolve_image(reference, base_dir=base_dir, cache=cache))
                    except ImageError as e:
                        name = field_name if len(turn.images) == 1 else f"images[{index}]"
                        raise InputFileError(input_file, turn.line, name, str(e)) from None
                if require_image and not turn.image_inputs:
                    raise InputFileError(input_file, turn.line, "image",
                                         f"{endpoint_type or 'this endpoint'} needs a reference image on every line "
                                         "('image': a path, an http(s) URL or a data URL)")
        return
    if not spec.enabled:
        return
    turns = [turn for conversation in conversations for turn in conversation.turns]
    rng = np.random.default_rng(None if random_seed is None else [random_seed, _IMAGE_STREAM])
    images = synthetic_images(spec, len(turns) * spec.batch_size, rng)
    for position, turn in enumerate(turns):
        turn.image_inputs.extend(images[position * spec.batch_size:(position + 1) * spec.batch_size])
