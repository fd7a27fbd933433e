"""Language models: Hugging Face transformers in, ONNX artifacts out, measured in tokens/s and perplexity.

One module a concept: ``hf`` (intake), ``onnx_export`` (artifacts with a KV cache),
``onnx_weights`` (weight-only and dynamic quantization), ``text`` (token windows),
``quality`` (perplexity, agreement, KL, cosine), ``sessions`` (running an artifact or the
reference), ``speed`` (timed generation in a worker process) and ``bench`` (the results).
"""
