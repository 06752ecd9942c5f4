"""The experiment lab: the task families of THESIS §7, their models and optimizers.

- :mod:`spectral_edge.lab.tasks`: data, generated locally and deterministically from a seed.
- :mod:`spectral_edge.lab.models`: the papers' models and ``build_model(name, **overrides)``.
- :mod:`spectral_edge.lab.optim`: AdamW / SGD / Muon, schedules, clipping, the monitor's η.

Nothing here imports the monitor; the trainer built on top wires them together.
"""
