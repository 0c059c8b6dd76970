// hello, in JavaScript: prints a line and logs one structured record.
//
// Build (componentize-js, from the repository's root):
//   componentize-js examples/js/hello/hello.js --wit wit -n job -o hello-js.wasm

import { log } from 'wasmjob:plugin/log@0.1.0';
import { instanceName } from 'wasmjob:plugin/context@0.1.0';

export const run = {
  run() {
    console.log(`Hello from JavaScript, instance ${instanceName()}`);
    log('info', 'greeted', [{ key: 'lang', value: 'js' }]);
  },
};
