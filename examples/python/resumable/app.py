"""resumable, in Python: counts from 1 to N (the first argument, 10 by
default), saving a checkpoint after every step. With `--fail-at K` the first
attempt fails on purpose after saving K; the Job's retry loads the checkpoint
and carries on from K + 1.

Build (componentize-py, from the repository's root):
    componentize-py -d wit -w job componentize -p sdk/python -p examples/python/resumable app -o resumable-py.wasm
"""

import sys

from wasmjob_plugin import Context, checkpoint, log
from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        args = sys.argv[1:]
        target = int(args[0]) if args and not args[0].startswith("--") else 10
        fail_at = int(args[args.index("--fail-at") + 1]) if "--fail-at" in args else None
        attempt = Context.current().attempt
        saved = checkpoint.load()
        n = int(saved.decode()) if saved else 0
        if n == 0:
            print(f"attempt {attempt}: starting at 1")
        else:
            print(f"attempt {attempt}: resuming after {n} from the checkpoint")
        while n < target:
            n += 1
            print(f"count {n}")
            checkpoint.save(str(n).encode())
            if fail_at == n and attempt == 0:
                log.error("failing on purpose", at=n)
                sys.exit(1)
        log.info("done", counted=n)
