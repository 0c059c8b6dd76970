//! Guest programs for the end-to-end tests: one binary each in src/bin,
//! built for wasm32-wasip1 by `./dev setup` into dist/test-programs/.
