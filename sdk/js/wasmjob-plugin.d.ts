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
