"""A child process for the fault-injection tests: ``python -m tests.fault_child OUT EPOCHS [KILL_AT]``.

Runs ``python -m dmf_np reproduce table1 --preset tiny`` on generated digits (no MNIST needed) into
OUT with EPOCHS fine-tuning epochs, through the real command line, and exits with its status. With
KILL_AT = n it SIGKILLs itself at the n-th file rename of an atomic write: after the temporary file
is written, before it replaces the target (a kill in the middle of a write).
"""
import os
import signal
import sys

from dmf_np.commands import reproduce
from dmf_np.data.synthetic import fake_digits


def main(argv) -> int:
    out, epochs = argv[0], argv[1]
    if len(argv) > 2:
        kill_at, real, calls = int(argv[2]), os.replace, [0]

        def dying_replace(src, dst):
            calls[0] += 1
            if calls[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(src, dst)

        os.replace = dying_replace
    reproduce.load_mnist = lambda *args, **kwargs: fake_digits()
    from dmf_np.cli import main as cli_main

    scheduler = os.environ.get("DMF_TEST_SCHEDULER")  # e.g. an address nobody answers at
    return cli_main(["reproduce", "table1", "--preset", "tiny", "--seeds", "1", "--out", out, "--epochs", epochs,
                     "--no-progress"] + (["--scheduler", scheduler] if scheduler else []))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
