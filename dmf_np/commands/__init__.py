"""The command line, one module per command: ``python -m dmf_np <command>`` runs ``dmf_np.commands.<command>``.

Each module has ``HELP`` (its line in ``python -m dmf_np --help``), ``build_parser()`` and
``main(argv) -> int`` (the exit status). The library modules below (training, experiments, data)
hold no argument parsing; these modules turn flags into calls of them and print the results.
"""
