"""Parallel layouts: what a stage's TP/CP/EP/PP/SP must satisfy, checked before anything launches.

:func:`validate` applies Megatron's rules to a layout, a world size, a model and a bucket's row multiple, and
raises one :class:`LayoutError` listing every problem with what to change, so a 64-node job does not die in
``initialize_model_parallel`` after the queue wait. It needs no torch, so login nodes and ``nemo-math plan``
can call it. :func:`initialize` then sets up Megatron's process groups for the layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from nemo_math.packing.format import pad_multiple


class LayoutError(ValueError):
    """A parallel layout that cannot run; the message lists each problem and the fix."""


@dataclass(frozen=True)
class Layout:
    tp: int = 1
    cp: int = 1
    ep: int = 1
    pp: int = 1
    sequence_parallel: bool = False
    etp: int = 1  # expert tensor parallel (MoE): 1 keeps every expert whole whatever TP is

    def data_parallel(self, world_size: int) -> int:
        return world_size // (self.tp * self.cp * self.pp)

    @property
    def row_multiple(self) -> int:
        """The multiple a packed row's length needs under this layout."""
        return pad_multiple(self.tp, self.cp, self.sequence_parallel)

    def __str__(self) -> str:
        sp = "+SP" if self.sequence_parallel else ""
        etp = f" ETP{self.etp}" if self.etp != 1 else ""
        return f"TP{self.tp}{sp} CP{self.cp} EP{self.ep}{etp} PP{self.pp}"


def validate(layout: Layout, world_size: int, model=None, *, micro_batch_size: int = 1,
             global_batch_size: int | None = None, seq_len: int | None = None, row_multiple: int | None = None,
             gpu: bool = True, where: str = "stage") -> int:
    """Check ``layout`` and return the data-parallel size; raise :class:`LayoutError` naming every fix.

    ``model`` is a :class:`~nemo_math.training.models.ModelConfig`; ``row_multiple`` is the bucket's
    ``pad_multiple`` (every packed row length is a multiple of it)."""
    errors: list[str] = []
    tp, cp, ep, pp, etp = layout.tp, layout.cp, layout.ep, layout.pp, layout.etp
    for name, value in (("tp", tp), ("cp", cp), ("ep", ep), ("pp", pp), ("etp", etp)):
        if value < 1:
            errors.append(f"{name}={value}: must be >= 1")
    if errors:
        raise LayoutError(f"{where}: " + "; ".join(errors))
    model_parallel = tp * cp * pp
    if world_size % model_parallel:
        errors.append(f"world size {world_size} is not divisible by TP*CP*PP = {model_parallel}: change the "
                      f"number of GPUs (nodes x gpus_per_node) or the layout")
        dp = 0
    else:
        dp = world_size // model_parallel
    if dp and (tp * cp * dp) % (etp * ep):
        errors.append(f"EP={ep} with expert TP={etp} needs TP*CP*DP = {tp * cp * dp} divisible by "
                      f"ETP*EP = {etp * ep} (Megatron's expert grid); lower ep or add GPUs")
    if pp > 1:
        errors.append("pp > 1: the nemo-math SFT loop runs without pipeline parallelism; use tp/cp/ep instead")
    if cp > 1 and not gpu:
        errors.append(f"cp={cp}: context parallelism needs Transformer Engine (GPU); on CPU use cp=1")
    if tp > 1 and model is not None and model.is_moe and not layout.sequence_parallel:
        errors.append(f"tp={tp} with a MoE model needs sequence parallelism: set sequence_parallel: true")
    if model is not None:
        if model.num_attention_heads % tp or model.num_query_groups % tp:
            errors.append(f"tp={tp} must divide the attention heads ({model.num_attention_heads}) and the "
                          f"key/value heads ({model.num_query_groups})")
        if model.vocab_size % tp:
            errors.append(f"tp={tp} must divide vocab_size {model.vocab_size}: pad the vocabulary")
        if ep > 1 and not model.is_moe:
            errors.append(f"ep={ep} on a dense model: expert parallelism needs num_experts > 0; set ep: 1")
        if model.is_moe and model.num_experts % ep:
            errors.append(f"ep={ep} must divide num_experts {model.num_experts}")
        if model.is_moe and model.moe_ffn_hidden_size % etp:
            errors.append(f"etp={etp} must divide the expert width moe_ffn_hidden_size {model.moe_ffn_hidden_size}")
        if model.num_layers % pp:
            errors.append(f"pp={pp} must divide num_layers {model.num_layers}")
    need = layout.row_multiple
    if row_multiple is not None and row_multiple % need:
        errors.append(f"packed rows are padded to a multiple of {row_multiple} but {layout} needs a multiple "
                      f"of {need}: re-pack with pad_multiple {need} (2*CP, times TP under sequence parallel)")
    if seq_len is not None and seq_len % need:
        errors.append(f"seq_len {seq_len} is not divisible by {need} as {layout} needs")
    if dp and global_batch_size is not None and global_batch_size % (micro_batch_size * dp):
        errors.append(f"global_batch_size {global_batch_size} must be a multiple of micro_batch_size x DP = "
                      f"{micro_batch_size} x {dp}")
    if errors:
        raise LayoutError(f"{where} ({layout}, world size {world_size}): " + "; ".join(errors))
    return dp


def initialize(layout: Layout, seed: int = 1234) -> None:
    """(Re)build Megatron's process groups for ``layout`` on the initialised default group and seed the
    model-parallel RNG (the same seed on every rank, so TP=1 and TP=2 start from the same weights)."""
    import torch
    from megatron.core import parallel_state as ps
    from megatron.core import tensor_parallel

    if not torch.cuda.is_available():
        from nemo_math.training.cpu import enable_cpu_megatron

        enable_cpu_megatron()
    if ps.model_parallel_is_initialized():
        ps.destroy_model_parallel()
    ps.initialize_model_parallel(tensor_model_parallel_size=layout.tp, pipeline_model_parallel_size=layout.pp,
                                 context_parallel_size=layout.cp, expert_model_parallel_size=layout.ep,
                                 expert_tensor_parallel_size=layout.etp)
    torch.manual_seed(seed)
    tensor_parallel.model_parallel_cuda_manual_seed(seed)
