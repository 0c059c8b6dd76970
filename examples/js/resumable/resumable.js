// resumable, in JavaScript: counts from 1 to N (the first argument, 10 by
// default), saving a checkpoint after every step. With `--fail-at K` the
// first attempt fails on purpose after saving K; the Job's retry loads the
// checkpoint and carries on from K + 1.
//
// Build (componentize-js, from the repository's root):
//   componentize-js examples/js/resumable/resumable.js --wit wit -n job -o resumable-js.wasm

import { getArguments } from 'wasi:cli/environment@0.2.12';
import { exit } from 'wasi:cli/exit@0.2.12';
import { save, load } from 'wasmjob:plugin/checkpoint@0.1.0';
import { attempt } from 'wasmjob:plugin/context@0.1.0';
import { log } from 'wasmjob:plugin/log@0.1.0';

export const run = {
  run() {
    const args = getArguments().slice(1);
    const target = args.length && !args[0].startsWith('--') ? Number(args[0]) : 10;
    const at = args.indexOf('--fail-at');
    const failAt = at >= 0 ? Number(args[at + 1]) : undefined;
    const tries = attempt();
    const saved = load();
    let n = saved ? Number(new TextDecoder().decode(saved)) : 0;
    if (n === 0) {
      console.log(`attempt ${tries}: starting at 1`);
    } else {
      console.log(`attempt ${tries}: resuming after ${n} from the checkpoint`);
    }
    while (n < target) {
      n += 1;
      console.log(`count ${n}`);
      save(new TextEncoder().encode(String(n)));
      if (failAt === n && tries === 0) {
        log('error', 'failing on purpose', [{ key: 'at', value: String(n) }]);
        exit({ tag: 'err' });
      }
    }
    log('info', 'done', [{ key: 'counted', value: String(n) }]);
  },
};
