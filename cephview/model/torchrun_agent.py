"""torchrun's agent, with its failures said in one line.

``python -m cephview.model.torchrun_agent ARGS`` takes torchrun's own arguments and runs its
agent as ``python -m torch.distributed.run ARGS`` does. The difference is what a user reads when
it fails: torchrun ends a rendezvous that the other machines never joined, or a worker that
failed, with a traceback of its own internals and a status block. Here each becomes one line,
``cephview: error: ...``, and exit status 2; the workers' own messages are printed above it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

#: A worker that stopped on a :class:`cephview.core.errors.CephviewError` has already said why
#: (``cephview: error: ...``) and exits with this status.
WORKER_ERROR_STATUS = 2


def _conf(rdzv_conf: str, key: str) -> str | None:
    for item in (rdzv_conf or "").split(","):
        name, _, value = item.partition("=")
        if name.strip() == key:
            return value.strip()
    return None


def main(argv: list[str]) -> int:
    # The agent's C++ side logs each failed attempt to reach the rendezvous with a stack of native
    # frames; the exception that follows says the same in a line. Quiet for this process only
    # (read as torch loads): the workers inherit the environment as the user set it.
    quiet = "TORCH_CPP_LOG_LEVEL" not in os.environ
    if quiet:
        os.environ["TORCH_CPP_LOG_LEVEL"] = "FATAL"
    try:
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.elastic.rendezvous.api import RendezvousConnectionError, RendezvousTimeoutError
        from torch.distributed.run import parse_args, run
    finally:
        if quiet:
            del os.environ["TORCH_CPP_LOG_LEVEL"]

    # Its notes on each failed worker ("failed (exitcode: 2) ...", "Sending process ... SIGTERM")
    # are said below in one line; its other messages stay.
    logging.getLogger("torch.distributed.elastic.multiprocessing.api").setLevel(logging.CRITICAL)
    quiet_rendezvous_shutdown()
    args = parse_args(argv)
    endpoint = args.rdzv_endpoint
    try:
        run(args)  # torchrun's main without its @record decorator, which prints the status block
    except RendezvousTimeoutError:
        waited = _conf(args.rdzv_conf, "join_timeout") or "600"
        return _error(f"{endpoint}: not all {args.nnodes} machines joined within {waited} s; start the same "
                      "command on every machine (or give them longer with --join-timeout)")
    except RendezvousConnectionError as exc:
        cause = (str(exc.__cause__ or exc).splitlines() or [type(exc).__name__])[0].rstrip(".")
        return _error(f"{endpoint}: cannot reach the rendezvous ({cause}); is the first machine's command "
                      "running and is the port open?")
    except ChildFailedError as exc:
        failures = exc.failures
        if not failures:
            return _error("training failed; its messages are above")
        if any(f.exitcode == WORKER_ERROR_STATUS for f in failures.values()):
            return WORKER_ERROR_STATUS  # that worker printed its own one-line error; the others were stopped
        # The agent stops the others with SIGTERM once one fails: name the one that failed.
        first_hand = [(r, f) for r, f in sorted(failures.items()) if f.exitcode != -signal.SIGTERM]
        rank, first = first_hand[0] if first_hand else exc.get_first_failure()
        how = f"was stopped by signal {-first.exitcode}" if first.exitcode < 0 else f"ended with status {first.exitcode}"
        return _error(f"training process {rank} {how}; its messages are above")
    return 0


def _not_a_shutdown_failure(record: logging.LogRecord) -> bool:
    return "has failed to shutdown the rendezvous" not in record.getMessage()


def quiet_rendezvous_shutdown() -> None:
    """Leave out the agent's warning that it could not close the rendezvous: the machine that held
    it has ended first (the run is over, or a worker failed and said why), and the warning would
    come after, and in place of, the run's last line."""
    logger = logging.getLogger("torch.distributed.elastic.rendezvous.dynamic_rendezvous")
    if _not_a_shutdown_failure not in logger.filters:
        logger.addFilter(_not_a_shutdown_failure)


def _error(message: str) -> int:
    sys.stderr.write(f"cephview: error: {message}\n")
    return WORKER_ERROR_STATUS


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
