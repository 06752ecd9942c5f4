"""Where researchers already train: Lightning, Hugging Face, torch.distributed, trackers, and
checkpoints on disk.

Each adapter is a thin shell around :class:`spectral_edge.SpectralMonitor`; nothing here changes
what is computed, only when the monitor observes, where its state is saved, which process writes,
and where the numbers are shown. Every framework is imported only by the module that needs it, so
``import spectral_edge`` never pulls in Lightning, transformers or a tracker.

* :mod:`.lightning` — ``SpectralEdgeCallback`` (extra ``lightning``)
* :mod:`.huggingface` — ``SpectralEdgeTrainerCallback`` (extra ``hf``)
* :mod:`.distributed` — ``distributed_monitor``: DDP with ``compute="rank0"`` (no extra; a
  plain ``SpectralMonitor`` handles DDP and FSDP2 itself, see :mod:`spectral_edge.parallel`)
* :mod:`.trackers` — TensorBoard, Weights & Biases, MLflow (extra ``trackers``)
* :mod:`.checkpoints` — ``analyze`` a sequence of saved checkpoints (safetensors: extra ``hf``)
"""
