// fetch, in JavaScript: GETs the URL given as its first argument and prints
// the status. The request goes out only where a NetworkPolicy grants the
// instance egress (docs/NETWORK.md); otherwise the fetch rejects
// (HttpRequestDenied) and the instance's log says which destination was
// refused (NetworkDenied).
//
// Build (componentize-js, from the repository's root):
//   componentize-js examples/js/fetch/fetch.js --wit wit -n job -o fetch-js.wasm

import { getArguments } from 'wasi:cli/environment@0.2.12';

export const run = {
  async run() {
    const url = getArguments()[1];
    const response = await fetch(url);
    console.log(`GET ${url}: ${response.status}`);
  },
};
