#!/usr/bin/env bash
# The GPU check of the training path (issue 12), for a machine with one or more NVIDIA GPUs; not part of CI.
# Under 8 minutes on one H100/H200:
#   1. the GPU route: Transformer Engine from the `gpu` extra (skipped when it already imports, e.g. NGC PyTorch);
#   2. a tiny random Qwen3 (transformers) -> Megatron initial checkpoint (`nemo-math convert`, CPU);
#   3. bf16 + distributed optimizer on the TE spec: one lr-0 step from that checkpoint, whose weights must be the
#      loaded ones (Megatron's fp32 main params refreshed after the load), read back on the CPU (TE -> local);
#   4. two bucketed stages of 3 steps (256 then 512 tokens, a handoff, TP2 in stage 2 when there are 2 GPUs);
#   5. the final checkpoint -> HF, and its logits in transformers against Megatron's own (TE, fp32) on the GPU;
#   6. benchmarks/training_gpu.py once (tokens/s, MFU).
# Usage: scripts/gpu_check.sh [WORK_DIR]     (PYTHON=... picks the interpreter; default .venv/bin/python)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}
WORK=${1:-$(mktemp -d -t nemo-math-gpu-check.XXXXXX)}
mkdir -p "$WORK"
export PYTHONWARNINGS=ignore
step() { echo "[$(date -u +%T)] $*"; }

"$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device: nothing to check")'
GPUS=$("$PYTHON" -c 'import torch; print(min(2, torch.cuda.device_count()))')

step "1/6 GPU route (Transformer Engine)"
if ! "$PYTHON" -c 'import transformer_engine.pytorch' 2>/dev/null; then
  "$PYTHON" -m pip install -q -e '.[gpu]'
fi
"$PYTHON" -c 'import transformer_engine as te; print("transformer_engine", te.__version__)'

step "2/6 tiny Qwen3 HF -> Megatron"
"$PYTHON" - "$WORK" <<'PY'
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

from nemo_math.packing.format import PackedWriter

work = Path(sys.argv[1])
torch.manual_seed(0)
config = Qwen3Config(vocab_size=1024, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=4096,
                     rope_theta=1e6, tie_word_embeddings=False)
Qwen3ForCausalLM(config).save_pretrained(work / "hf_in")
rng = np.random.default_rng(0)
for seq_len in (256, 512):  # learnable documents: arithmetic runs of a random stride
    writer = PackedWriter(work / "pack" / f"bucket_{seq_len}", seq_len=seq_len, pad_token_id=0, multiple=8)
    for _ in range(24):
        docs, room = [], seq_len
        while room >= 32:
            n = int(rng.integers(32, room + 1))
            docs.append(((int(rng.integers(1, 1024)) + int(rng.integers(1, 4)) * np.arange(n)) % 1024,
                         np.r_[np.zeros(4), np.ones(n - 4)].astype(np.uint8)))
            room -= n
        writer.add_row(docs)
    writer.close(source="gpu_check")
PY
CUDA_VISIBLE_DEVICES= "$PYTHON" -m nemo_math.cli convert -q "convert.input=$WORK/hf_in" \
  "convert.output_dir=$WORK/init"

model_args=(train.model=tiny_dense "train.model_overrides={vocab_size: 1024, hidden_size: 256,
  ffn_hidden_size: 512, num_layers: 4, num_attention_heads: 4, num_query_groups: 2, head_dim: 64,
  max_position_embeddings: 4096}")
common=("run_dir=$WORK" "train.data_dir=$WORK/pack" "train.init_checkpoint=$WORK/init" train.precision=bf16
  train.distributed_optimizer=true train.weight_decay=0.0 "train.nproc_per_node=$GPUS" train.tensorboard=false)

step "3/6 loaded weights survive the first bf16 step"
"$PYTHON" -m nemo_math.cli train -q "${common[@]}" "${model_args[@]}" "train.output_dir=$WORK/reload" \
  'train.stages=[{name: s0, bucket: bucket_256, global_batch_size: 8, steps: 1, lr: 0.0}]'
CUDA_VISIBLE_DEVICES= "$PYTHON" - "$WORK" <<'PY'
import sys
from pathlib import Path

import torch

from nemo_math.conversion.convert import build_uninitialized, model_of_checkpoint
from nemo_math.training import checkpoint, models

work = Path(sys.argv[1])
models.init_single_process()
weights = []
for path in (work / "init", work / "reload" / "s0" / "checkpoints"):
    module = build_uninitialized(model_of_checkpoint(path), bf16=True)
    checkpoint.load(path, module)  # a TE checkpoint read by local modules
    weights.append({k: v for k, v in module.state_dict().items() if not k.endswith("_extra_state")})
bad = [k for k in weights[0] if not torch.equal(weights[0][k], weights[1][k])]
assert not bad, f"weights changed by an lr-0 step (main params not reloaded?): {bad[:5]}"
print(f"ok: {len(weights[0])} tensors equal after the step")
PY

step "4/6 two bucketed stages, 3 steps each, with a handoff"
"$PYTHON" -m nemo_math.cli train -q "${common[@]}" "${model_args[@]}" "train.output_dir=$WORK/train" \
  "train.stages=[{name: s256, bucket: bucket_256, global_batch_size: 8, steps: 3, lr: 1.0e-3},
    {name: s512, bucket: bucket_512, tp: $GPUS, sequence_parallel: true, global_batch_size: 8, steps: 3,
     lr: 1.0e-3}]"
cat "$WORK/train/s256/metrics.jsonl" "$WORK/train/s512/metrics.jsonl"

step "5/6 final checkpoint -> HF, logits against Megatron"
CUDA_VISIBLE_DEVICES= "$PYTHON" -m nemo_math.cli convert -q "convert.input=$WORK/train" \
  "convert.output_dir=$WORK/hf_out" convert.dtype=float32 convert.tokenizer=null
"$PYTHON" - "$WORK" <<'PY'
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from nemo_math.conversion.convert import model_of_checkpoint
from nemo_math.training import checkpoint, models

work = Path(sys.argv[1])
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
models.init_single_process()
path = checkpoint.resolve(work / "train" / "s512" / "checkpoints")
model = model_of_checkpoint(path)
megatron = models.build_model(model, models.transformer_config(model, bf16=False)).eval()
checkpoint.load(path, megatron)
tokens = torch.randint(0, model.vocab_size, (2, 64), generator=torch.Generator().manual_seed(1)).cuda()
positions = torch.arange(64, device="cuda")[None].expand_as(tokens)
hf = AutoModelForCausalLM.from_pretrained(work / "hf_out", dtype=torch.float32).cuda().eval()
with torch.no_grad():
    ours, theirs = megatron(tokens, positions, None), hf(tokens).logits
diff = (ours - theirs).abs().max().item()
print(f"max |logit difference| Megatron (TE) vs transformers: {diff:.2e} (logit scale {theirs.abs().max():.2f})")
assert diff < 1e-2, diff
PY

step "6/6 benchmarks/training_gpu.py"
"$PYTHON" benchmarks/training_gpu.py --steps 4
step "GPU check passed ($WORK)"
