"""dmf_np: Dense Multimodal Fusion (Hu, Nie, Li 2018) from scratch in NumPy and CuPy, to be taught from.

Data flows one way, and so do the imports:

    backend, errors                  array module (NumPy/CuPy), dtypes, generators; exceptions
    layers, fusion, backprop         affine + sigmoid; EMF/IMF/DMF as edge sets (Eqs. 1, 3, 4); Eqs. 2, 5-8
    rbm, pretrain                    RBMs, CD-k/PCD (CDConfig); layer-wise pretraining into the network
    optim, train                     one SGD for both; supervised fine-tuning, checkpoints, resume
    generative, generative_train     the encoder-decoder variant; its training with missing modalities
    gradcheck, learning_paths        finite-difference checks; the per-path split of Eq. 5
    retrieval, cca, linear           mAP, the CCA baseline, a linear classifier on joint features
    data/, experiments/, plots       MNIST halves, Wiki, generated data; the paper's tables and figures
    cli, commands/                   ``python -m dmf_np <command>``: one module per command

Nothing is imported here: ``import dmf_np.fusion`` (and so on) loads what it needs.
"""

__version__ = "0.1.0"  # the same as pyproject.toml's (tests/test_cli.py checks)
