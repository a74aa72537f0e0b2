"""edgernn export: torch -> ONNX streaming graphs, parity gates and reports."""
