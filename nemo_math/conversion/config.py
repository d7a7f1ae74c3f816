"""Config of checkpoint conversion (``nemo-math convert``)."""

from dataclasses import dataclass
from typing import Any


@dataclass
class ConvertConfig:
    input: str = "${train.output_dir}"  # a Megatron checkpoint (root, iter folder or train output) or an HF folder
    output_dir: str = "${run_dir}/hf"
    direction: str = "auto"  # auto (HF folder in -> Megatron out, else -> HF) | to_hf | to_megatron
    dtype: str = "bfloat16"  # to_hf: weight dtype written (bfloat16 | float16 | float32)
    tokenizer: str | None = "${pack.tokenizer}"  # to_hf: tokenizer files copied next to the weights (local folder)
    renderer: str = "${pack.renderer}"  # to_hf: the renderer the student trained with: sets its chat template
    # to_hf: the model, when the checkpoint does not record it (meta.model)
    model: str = "${train.model}"
    model_overrides: dict[str, Any] = "${train.model_overrides}"  # type: ignore[assignment]
