// TypeScript declarations of wasmjob's plugin interfaces (wit/plugin.wit,
// package wasmjob:plugin@0.1.0) as componentize-js binds them for a plugin
// of the world `job`: kebab-case names in camelCase, `option<T>` as
// `T | undefined`, `list<u8>` as `Uint8Array`, an `enum` as its case names,
// a `variant` as `{ tag, val }`, and a `result` returned on success and
// thrown on error (the error value as the thrown object's `payload`).
// Keep in step with wit/plugin.wit.

declare module 'wasmjob:plugin/log@0.1.0' {
  /** How much a record matters, least first. */
  export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** One structured field of a record. */
  export interface Field {
    key: string;
    value: string;
  }
  /** Writes one record to the instance's log (a logfmt line and a record). */
  export function log(level: Level, message: string, fields: Field[]): void;
}

declare module 'wasmjob:plugin/queue@0.1.0' {
  /** Why a queue call failed (thrown, as the error's `payload`). */
  export type Error =
    | { tag: 'no-queue' }
    | { tag: 'unavailable'; val: string }
    | { tag: 'not-leased'; val: string };
  /** An item leased to this worker. */
  export interface Item {
    id: string;
    body: Uint8Array;
  }
  /** Leases the next item for `leaseSeconds`; undefined when none is left now. */
  export function lease(leaseSeconds: number): Item | undefined;
  /** Marks a leased item done. */
  export function complete(id: string): void;
  /** Whether nothing is waiting and nothing leased. */
  export function empty(): boolean;
}

declare module 'wasmjob:plugin/checkpoint@0.1.0' {
  /** Saves this instance's checkpoint (throws the host's reason as a string). */
  export function save(data: Uint8Array): void;
  /** The last checkpoint saved for this Job and completion index. */
  export function load(): Uint8Array | undefined;
}

declare module 'wasmjob:plugin/context@0.1.0' {
  export function jobName(): string;
  export function instanceName(): string;
  export function completionIndex(): number | undefined;
  /** Failed attempts at this work before this one (0 on the first). */
  export function attempt(): number;
  export function nodeName(): string;
  /** A CronJob run's scheduled time (RFC 3339). */
  export function scheduledTime(): string | undefined;
}

/** What a plugin exports as `run` (the WASI command's entry point). */
declare interface WasmjobRun {
  run(): void | Promise<void>;
}

// The few WASI 0.2 functions the examples use, as componentize-js binds
// them (the rest of WASI comes through JavaScript's own APIs).

declare module 'wasi:cli/environment@0.2.12' {
  /** The command's arguments, the program's name first. */
  export function getArguments(): string[];
}

declare module 'wasi:cli/exit@0.2.12' {
  /** Ends the command: `{ tag: 'ok' }` exits 0, `{ tag: 'err' }` exits 1. */
  export function exit(status: { tag: 'ok'; val?: undefined } | { tag: 'err'; val?: undefined }): never;
}

declare module 'wasi:clocks/monotonic-clock@0.2.12' {
  /** A pollable ready after `nanoseconds`. */
  export function subscribeDuration(nanoseconds: bigint): { block(): void };
}

// The standard interfaces for configuration and values kept between runs
// (docs/NETWORK.md): the instance's environment, and the buckets of its
// Job or CronJob.

declare module 'wasi:config/store@0.2.0-rc.1' {
  /** Why the configuration could not be read (thrown, as `payload`). */
  export type Error = { tag: 'upstream'; val: string } | { tag: 'io'; val: string };
  /** The value of `key`, if the configuration has it. */
  export function get(key: string): string | undefined;
  /** Every key and its value. */
  export function getAll(): [string, string][];
}

declare module 'wasi:keyvalue/store@0.2.0-draft' {
  /** Why a call failed (thrown, as `payload`). */
  export type Error =
    | { tag: 'no-such-store' }
    | { tag: 'access-denied' }
    | { tag: 'other'; val: string };
  /** A page of keys, and where the next one starts. */
  export interface KeyResponse {
    keys: string[];
    cursor?: bigint;
  }
  /** A bucket of values, by key. */
  export class Bucket {
    get(key: string): Uint8Array | undefined;
    set(key: string, value: Uint8Array): void;
    delete(key: string): void;
    exists(key: string): boolean;
    listKeys(cursor: bigint | undefined): KeyResponse;
  }
  /** Opens the bucket `identifier` (`default` by convention). */
  export function open(identifier: string): Bucket;
}

declare module 'wasi:keyvalue/atomics@0.2.0-draft' {
  import type { Bucket } from 'wasi:keyvalue/store@0.2.0-draft';
  /** Adds `delta` to the number `key` holds (absent: 0) in one step; the sum. */
  export function increment(bucket: Bucket, key: string, delta: bigint): bigint;
}
