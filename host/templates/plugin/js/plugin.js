// {{name}}: a wasmjob plugin, a WASI command that also uses the host's
// plugin interfaces (wit/plugin.wit): log, checkpoint, queue, context.

import { instanceName } from 'wasmjob:plugin/context@0.1.0';
import { log } from 'wasmjob:plugin/log@0.1.0';

export const run = {
  run() {
    console.log(`Hello from {{name}}, instance ${instanceName()}`);
    log('info', 'greeted', [{ key: 'lang', value: 'js' }]);
  },
};
