"""wq-fine, in Python: the fine-parallel work-queue worker (the seed's
worker.py): lease an item, work on it, complete it, until the Job's queue
(`spec.queue.mode: lease`) is empty; then exit 0.

Build (componentize-py, from the repository's root):
    componentize-py -d wit -w job componentize -p sdk/python -p examples/python/wq-fine app -o wq-fine-py.wasm
"""

import time

from wasmjob_plugin import Context, log, queue
from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        me = Context.current().instance_name
        print(f"Worker {me}")
        while not queue.is_empty():
            item = queue.lease(10)
            if item is None:
                print("Waiting for work")
                time.sleep(0.25)
                continue
            print(f"Working on {item.text()}")
            item.complete()
        print("Queue empty, exiting")
        log.info("drained", worker=me)
