"""What onnxruntime's prebuilt packages can run, to tell a user whether a graph needs a custom
build (`edgernn info`).

Up to release 1.18, onnxruntime's prebuilt mobile packages (Android ``onnxruntime-mobile``, iOS
``onnxruntime-mobile-c``) held a reduced set of operators and types; from 1.19 on the prebuilt
mobile packages carry every operator, and a reduced build is made by hand from a
``required_operators.config`` (`edgernn export --format ort` writes one). The reduced set below
is the one onnxruntime documents for its 1.17 mobile package (docs/reference/operators/
mobile_package_op_type_support_1.17.md): these operators, for models importing ai.onnx opsets
12-15, with float, int8 and uint8 data. It has no recurrent operator at all (no RNN, GRU, LSTM,
nor the contrib DynamicQuantizeLSTM), so no edgernn graph runs on it.
"""

from __future__ import annotations

REDUCED_MOBILE_RELEASES = "1.17-1.18"
REDUCED_MOBILE_OPSETS = range(12, 16)  # ai.onnx opset imports the reduced package supported
REDUCED_MOBILE_TYPES = ("float", "int8", "uint8")
REDUCED_MOBILE_OPERATORS = {
    "ai.onnx": frozenset(
        "Abs Add And ArgMax ArgMin AveragePool Cast Ceil Clip Concat ConstantOfShape Conv ConvTranspose Cos "
        "CumSum DepthToSpace DequantizeLinear Div DynamicQuantizeLinear Elu Equal Erf Exp Expand Flatten Floor "
        "Gather GatherND Gemm GlobalAveragePool Greater GreaterOrEqual HardSigmoid Identity If "
        "InstanceNormalization LRN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax Loop MatMul "
        "MatMulInteger Max MaxPool Mean Min Mul Neg NonMaxSuppression NonZero Not Or PRelu Pad Pow QLinearConv "
        "QLinearMatMul QuantizeLinear Range Reciprocal ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum Relu "
        "Reshape Resize ReverseSequence Round Scan ScatterND Shape Sigmoid Sin Size Slice Softmax SpaceToDepth "
        "Split Sqrt Squeeze Sub Sum Tanh ThresholdedRelu Tile TopK Transpose Unique Unsqueeze Where".split()),
    "com.microsoft": frozenset(
        "DynamicQuantizeMatMul FusedConv FusedGemm FusedMatMul Gelu MatMulIntegerToFloat NhwcMaxPool QLinearAdd "
        "QLinearAveragePool QLinearConv QLinearGlobalAveragePool QLinearLeakyRelu QLinearMul QLinearSigmoid".split()),
}
# Constant nodes are folded into initializers when a session is made; no kernel runs them.
FOLDED_AWAY = frozenset({("ai.onnx", "Constant")})


def missing_from_reduced_mobile(operators: list[tuple[str, int, str]]) -> list[str]:
    """What of ``operators`` ((domain, opset, op type): external_data.required_operators) the reduced
    mobile package cannot run: each operator it lacks ("ai.onnx:GRU"), then an ai.onnx opset
    outside 12-15 ("ai.onnx opset 17")."""
    missing = [f"{domain}:{op}" for domain, _, op in operators
               if (domain, op) not in FOLDED_AWAY and op not in REDUCED_MOBILE_OPERATORS.get(domain, frozenset())]
    opsets = sorted({opset for domain, opset, _ in operators if domain == "ai.onnx" and opset not in REDUCED_MOBILE_OPSETS})
    return missing + [f"ai.onnx opset {opset}" for opset in opsets]
