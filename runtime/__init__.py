"""edgernn's runtime: numpy + onnxruntime only (never torch or onnx).

    from edgernn.runtime import Model
    model = Model("model.fp32.onnx", threads=1)
    probs = model.predict(sequences)      # float32 [n, classes]
    stream = model.stream(); stream.push(chunk)
    batch = model.batch(); sid = batch.open(); batch.push({sid: chunk})
"""

from edgernn.runtime.datasets import SequenceSet, read_sequences

from edgernn.runtime.splits import load_train_test
from edgernn.runtime.errors import (
    CheckFailed, CheckpointError, DataFormatError, EdgeRNNError, InputError, InputTypeError,
    MetadataError, ModelFileError,
)
from edgernn.runtime.frontend import FeatureFrontend, TokenFrontend, frontend_from_json
from edgernn.runtime.metadata import GraphMetadata, StateSpec
from edgernn.runtime.batch import StreamBatch
from edgernn.runtime.model import Model, ResetPolicy, Stream
from edgernn.runtime.softmax import softmax

__all__ = [
    "Model", "Stream", "StreamBatch", "ResetPolicy", "softmax", "GraphMetadata", "StateSpec", "FeatureFrontend", "TokenFrontend",
    "frontend_from_json", "SequenceSet", "read_sequences", "load_train_test", "EdgeRNNError",
    "InputError", "InputTypeError", "DataFormatError", "ModelFileError", "MetadataError",
    "CheckpointError", "CheckFailed",
]
