"""The experiment lab: the task families of docs/thesis.md §7, their models and optimizers.

- :mod:`spectral_edge.lab.tasks`: data, generated locally and deterministically from a seed.
- :mod:`spectral_edge.lab.models`: the papers' models and ``build_model(name, **overrides)``.
- :mod:`spectral_edge.lab.optim`: AdamW / SGD / Muon, schedules, clipping, the monitor's η.
- :mod:`spectral_edge.lab.presets`: the configurations (the papers', scaled to a CPU, the demo's).
- :mod:`spectral_edge.lab.trainer` and :mod:`spectral_edge.lab.demo`: a training run with the
  monitor attached, and the demo built on it.

The tasks and the models import nothing of the monitor; the trainer wires them to it.
"""
