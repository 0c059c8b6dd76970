// wq-fine, in JavaScript: the fine-parallel work-queue worker (the seed's
// worker.py): lease an item, work on it, complete it, until the Job's queue
// (`spec.queue.mode: lease`) is empty; then exit 0.
//
// Build (componentize-js, from the repository's root):
//   componentize-js examples/js/wq-fine/wq-fine.js --wit wit -n job -o wq-fine-js.wasm

import { subscribeDuration } from 'wasi:clocks/monotonic-clock@0.2.12';
import { instanceName } from 'wasmjob:plugin/context@0.1.0';
import { log } from 'wasmjob:plugin/log@0.1.0';
import { complete, empty, lease } from 'wasmjob:plugin/queue@0.1.0';

export const run = {
  run() {
    const me = instanceName();
    console.log(`Worker ${me}`);
    while (!empty()) {
      const item = lease(10);
      if (item === undefined) {
        console.log('Waiting for work');
        subscribeDuration(250_000_000n).block();
        continue;
      }
      console.log(`Working on ${new TextDecoder().decode(item.body)}`);
      complete(item.id);
    }
    console.log('Queue empty, exiting');
    log('info', 'drained', [{ key: 'worker', value: me }]);
  },
};
