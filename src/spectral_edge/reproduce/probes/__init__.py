"""The model probes: measurements that run a torch model, called by the reproduction's runner.

:mod:`spectral_edge.dynamics` analyses the monitor's series and never touches a model; what does
lives here, beside :mod:`spectral_edge.reproduce.runner` and :mod:`spectral_edge.reproduce.offline`
that call it:

- :mod:`.model`: the shared plumbing (parameter order, flat vectors, weights restored bit for bit);
- :mod:`.commutator`: the commutator defect of two SGD steps (its onset rule, pure, is
  :func:`spectral_edge.dynamics.commutator.commutator_onset`);
- :mod:`.hessian`: top Hessian eigenvalues by Lanczos (the Krylov bound on them, pure, is
  :func:`spectral_edge.dynamics.hessian.krylov_bound`);
- :mod:`.decomposition`: the spectral loss decomposition against mode ablation (T8);
- :mod:`.holographic`: trajectory compression and the execution manifold (C10, C11).
"""
