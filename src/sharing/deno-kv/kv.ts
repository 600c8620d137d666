/*
 * The few parts of Deno KV this transport uses, typed structurally so that the package needs no Deno types at build
 * time and accepts the real `Deno.Kv` (from `Deno.openKv()`, on Deno Deploy or the CLI) as it is.
 */

/** A key as this transport writes it (a subset of `Deno.KvKey`). */
export type KvKey = readonly (string | number)[];

/** One entry of a read (a subset of `Deno.KvEntryMaybe`): `versionstamp` is null when the key is absent. */
export interface KvEntryMaybe {
  readonly value: unknown;
  readonly versionstamp: string | null;
}

/** An atomic operation (a subset of `Deno.AtomicOperation`): every check holds, or nothing is written. */
export interface KvAtomicOperation {
  check(...checks: { readonly key: KvKey; readonly versionstamp: string | null }[]): KvAtomicOperation;
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): KvAtomicOperation;
  delete(key: KvKey): KvAtomicOperation;
  commit(): Promise<{ readonly ok: true; readonly versionstamp: string } | { readonly ok: false }>;
}

/** The calls `denoKvSharing` makes on a `Deno.Kv`. */
export interface DenoKv {
  getMany(keys: KvKey[], options?: { consistency?: 'strong' | 'eventual' }): Promise<KvEntryMaybe[]>;
  atomic(): KvAtomicOperation;
  /** Streams the entries of `keys` each time one changes (Deno Deploy delivers other isolates' writes). */
  watch?(keys: KvKey[]): ReadableStream<KvEntryMaybe[]>;
}
