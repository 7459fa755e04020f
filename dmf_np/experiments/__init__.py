"""Reproductions of the paper's experiments: MNIST (Table 1, Fig. 4) and Wiki retrieval (Table 2).

``python -m dmf_np reproduce {fig4,table1,table2}`` runs them (see :mod:`.cli`); :mod:`.rundir`
holds the run-directory helpers (config with versions, metrics, resumable units) they share.
"""
