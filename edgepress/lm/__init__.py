"""Language models: Hugging Face transformers in, ONNX, ExecuTorch and TFLite artifacts out, measured in tokens/s and perplexity.

One module a concept: ``hf`` (intake), ``routes`` (which formats, and how), ``onnx_export``
(artifacts with a KV cache), ``onnx_weights`` and ``gptq`` (weight-only and dynamic
quantization), ``executorch_export``, ``tflite_export`` and ``encoder_export`` (the static
formats), ``custom_sdpa`` and ``grouped_attention`` (the ``.pte`` decoders' attention), ``text`` (token windows), ``quality`` (perplexity, agreement, KL, cosine),
``state``, ``sessions`` and ``tflite_session`` (running an artifact or the reference),
``speed`` (timed generation in a worker process) and ``bench`` (the results).
"""
