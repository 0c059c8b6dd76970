"""hello, in Python: prints a line and logs one structured record.

Build (componentize-py, from the repository's root):
    componentize-py -d wit -w job componentize -p examples/python/hello app -o hello-py.wasm
"""

from wit_world import exports
from wit_world.imports import context, log


class Run(exports.Run):
    def run(self) -> None:
        print(f"Hello from Python, instance {context.instance_name()}")
        log.log(log.Level.INFO, "greeted", [log.Field("lang", "python")])
