// cursor, in JavaScript: what a CronJob's run keeps for the next one, in
// wasi:keyvalue. Each run counts itself, prints where the last one
// stopped, and leaves its own mark (the configuration's CURSOR_MARK when
// set, its run number otherwise).
//
// Build (componentize-js, from the repository's root):
//   componentize-js examples/js/cursor/cursor.js --wit wit -n job -o cursor-js.wasm

import { get } from 'wasi:config/store@0.2.0-rc.1';
import { increment } from 'wasi:keyvalue/atomics@0.2.0-draft';
import { open } from 'wasi:keyvalue/store@0.2.0-draft';

export const run = {
  run() {
    const bucket = open('default');
    const count = increment(bucket, 'runs', 1n);
    const last = bucket.get('cursor');
    if (last === undefined) {
      console.log(`run ${count}: the first run`);
    } else {
      console.log(`run ${count}: the last run stopped at ${new TextDecoder().decode(last)}`);
    }
    const mark = get('CURSOR_MARK') ?? `run ${count}`;
    bucket.set('cursor', new TextEncoder().encode(mark));
  },
};
