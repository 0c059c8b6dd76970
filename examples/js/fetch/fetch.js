// fetch, in JavaScript: GETs the URL given as its first argument and prints
// the status. Until egress can be granted by policy, every request from an
// instance is denied: the fetch rejects, and the instance's log says which
// destination was refused (HttpRequestDenied).
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
