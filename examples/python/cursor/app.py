"""cursor, in Python: what a CronJob's run keeps for the next one, in
wasi:keyvalue. Each run counts itself, prints where the last one stopped,
and leaves its own mark (the configuration's CURSOR_MARK when set, its run
number otherwise).

Build (componentize-py, from the repository's root):
    componentize-py -d wit -w job componentize -p sdk/python -p examples/python/cursor app -o cursor-py.wasm
"""

from wasmjob_plugin import config, keyvalue
from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        bucket = keyvalue.Bucket.open("default")
        run = bucket.increment("runs", 1)
        last = bucket.get("cursor")
        if last is None:
            print(f"run {run}: the first run")
        else:
            print(f"run {run}: the last run stopped at {last.decode()}")
        mark = config.get("CURSOR_MARK") or f"run {run}"
        bucket.set("cursor", mark.encode())
