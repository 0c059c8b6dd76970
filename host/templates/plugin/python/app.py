"""{{name}}: a wasmjob plugin, a WASI command that also uses the host's
plugin interfaces (wit/plugin.wit): log, checkpoint, queue, context."""

from wit_world import exports
from wit_world.imports import context, log


class Run(exports.Run):
    def run(self) -> None:
        print(f"Hello from {{name}}, instance {context.instance_name()}")
        log.log(log.Level.INFO, "greeted", [log.Field("lang", "python")])
