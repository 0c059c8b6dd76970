// hello, in TypeScript: typed by sdk/js's declarations of the plugin
// interfaces, compiled to JavaScript by tsc, then made a component.
//
// Build (from the repository's root):
//   tsc -p examples/js/hello-ts
//   componentize-js examples/js/hello-ts/build/hello.js --wit wit -n job -o hello-ts.wasm

import { instanceName } from 'wasmjob:plugin/context@0.1.0';
import { log, type Level } from 'wasmjob:plugin/log@0.1.0';

const level: Level = 'info';

export const run: WasmjobRun = {
  run(): void {
    console.log(`Hello from TypeScript, instance ${instanceName()}`);
    log(level, 'greeted', [{ key: 'lang', value: 'ts' }]);
  },
};
