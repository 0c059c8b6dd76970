"""fetch, in Python: GETs the URL given as its first argument and prints the
status and the body's size. The request goes out only where a
NetworkPolicy grants the instance egress (docs/NETWORK.md).

Build (componentize-py, from the repository's root):
    componentize-py -d wit -w job componentize -p sdk/python -p examples/python/fetch app -o fetch-py.wasm
"""

import sys

from wasmjob_plugin import http
from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        url = sys.argv[1]
        try:
            report = http.get(url)
        except http.HttpError as e:
            print(e)
            sys.exit(1)
        print(f"GET {url}: {report.status}, {len(report.body)} bytes")
