"""The parity gates' limits as plain data: no torch or onnx here, so that the CLI builds its
options (and their help) from these defaults without loading the export room."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParityLimits:
    fp32_max_abs_diff: float = 1e-4     # graph vs PyTorch, logits and states
    stream_max_abs_diff: float = 1e-5   # chunked vs one call, same graph
    chunks: tuple[int, ...] = (1, 7, 16)
    max_sequences: int = 1000           # held-out sequences used per gate (the first N)
    min_top1_agreement: float = 0.99    # quantized vs fp32: share of identical top-1 answers
    max_accuracy_drop: float = 0.005    # fp32 test accuracy minus the quantized one (a fraction)
    long_stream_steps: int = 10_000     # held-out sequences laid end to end, carried through the state
    long_stream_max_abs_diff: float = 1e-3  # fp32 graph vs PyTorch over the long stream's logits
    long_stream_min_top1_agreement: float = 0.97  # quantized vs fp32, share of steps of the long stream
    # quantized vs fp32 over the long stream: total variation distance between how often each
    # class is the top-1 answer (catches a state that collapses onto one class)
    long_stream_max_class_shift: float = 0.05
    # fp32 limits rise to this many times PyTorch's own float32 error (vs float64) where the model
    # amplifies rounding past them (onnxruntime's approximate sigmoid/tanh measured up to 4.9x
    # further from float64 than PyTorch over 1,460 steps); 0 holds the graph to the limits as given
    float32_error_factor: float = 10.0
    # one-sided test level for the quantized agreement and accuracy-drop gates: a count fails only
    # when chance would give it less often than this under the limit; 0 judges the fractions as they are
    significance: float = 0.05
