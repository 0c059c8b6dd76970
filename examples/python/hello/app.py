"""hello, in Python: prints a line and logs one structured record.

Build (componentize-py, from the repository's root):
    componentize-py -d wit -w job componentize -p sdk/python -p examples/python/hello app -o hello-py.wasm
"""

from wasmjob_plugin import Context, log
from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        print(f"Hello from Python, instance {Context.current().instance_name}")
        log.info("greeted", lang="python")
