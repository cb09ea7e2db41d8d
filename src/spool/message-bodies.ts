/**
 * Reads a stored message body by its hash, wherever the spool put it: inline in the
 * database (small bodies) or in the blob store (large ones).
 */
import type { FsBlobStore } from '../blob/fs-blob-store.js';
import type { Store } from '../store/types.js';

export class MessageBodies {
  constructor(
    private readonly store: Store,
    private readonly blobs: FsBlobStore,
  ) {}

  async read(hash: string): Promise<Buffer> {
    return (await this.store.readInlineBody(hash)) ?? (await this.blobs.read(hash));
  }
}
