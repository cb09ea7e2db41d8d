/**
 * Message bodies as immutable, content-addressed files (DESIGN.md §4).
 *
 * Writing is two-phase so that many messages share the expensive directory fsyncs:
 *   1. `createWriter()` streams into `tmp/`, hashing as it goes; `finish` fsyncs the file.
 *   2. `publish(blobs)` renames a whole batch into `<aa>/<hash>` and fsyncs each touched
 *      directory once. Only after that may a database row point at the blob.
 * A crash between the phases leaves files in `tmp/` (swept at start) or unreferenced blobs
 * (harmless; collected later), never a row without its body.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';

export interface PendingBlob {
  tmpPath: string;
  hash: string;
  size: number;
}

export class FsBlobStore {
  readonly root: string;
  private readonly tmpDir: string;
  /** Shard directories known to exist durably, so their parent needs no fsync again. */
  private readonly knownShards = new Set<string>();

  constructor(root: string) {
    this.root = root;
    this.tmpDir = path.join(root, 'tmp');
    fs.mkdirSync(this.tmpDir, { recursive: true });
  }

  /** Deletes leftovers of writes that never got published (call once at start, before serving). */
  async sweepTmp(): Promise<number> {
    const names = await fsp.readdir(this.tmpDir);
    await Promise.all(names.map((n) => fsp.rm(path.join(this.tmpDir, n), { force: true })));
    return names.length;
  }

  createWriter(): BlobWriter {
    return new BlobWriter(path.join(this.tmpDir, `${process.pid}-${randomBytes(9).toString('hex')}`));
  }

  pathOf(hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`not a blob hash: ${hash}`);
    return path.join(this.root, hash.slice(0, 2), hash);
  }

  /** Moves finished blobs into place and makes the renames durable (one fsync per directory). */
  async publish(blobs: PendingBlob[]): Promise<void> {
    const dirs = new Set<string>();
    const newShards: string[] = [];
    await Promise.all(
      blobs.map(async (blob) => {
        const final = this.pathOf(blob.hash);
        const dir = path.dirname(final);
        if (!this.knownShards.has(dir)) {
          await fsp.mkdir(dir, { recursive: true });
          newShards.push(dir);
        }
        // Same hash = same bytes, so replacing an existing copy changes nothing.
        await fsp.rename(blob.tmpPath, final);
        dirs.add(dir);
      }),
    );
    // The parent of a (possibly) new shard directory must be synced too, or the shard
    // itself could vanish after a crash.
    if (newShards.length > 0) dirs.add(this.root);
    await Promise.all([...dirs].map(fsyncDir));
    for (const dir of newShards) this.knownShards.add(dir);
  }

  async discard(blob: Pick<PendingBlob, 'tmpPath'>): Promise<void> {
    await fsp.rm(blob.tmpPath, { force: true });
  }

  async read(hash: string): Promise<Buffer> {
    return fsp.readFile(this.pathOf(hash));
  }

  createReadStream(hash: string): fs.ReadStream {
    return fs.createReadStream(this.pathOf(hash));
  }

  async delete(hash: string): Promise<void> {
    await fsp.rm(this.pathOf(hash), { force: true });
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A Writable that streams into a temporary file while computing its SHA-256.
 * After 'finish', `result` holds the fsync'd file's path, hash and size.
 */
export class BlobWriter extends Writable {
  result: PendingBlob | null = null;
  private handle: fsp.FileHandle | null = null;
  private readonly hash: Hash = createHash('sha256');
  private size = 0;

  constructor(readonly tmpPath: string) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    fsp.open(this.tmpPath, 'wx', 0o640).then(
      (h) => {
        this.handle = h;
        callback();
      },
      (err: Error) => callback(err),
    );
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    for (const b of buffers) {
      this.hash.update(b);
      this.size += b.length;
    }
    this.handle!.writev(buffers).then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    const handle = this.handle!;
    handle
      .sync()
      .then(() => handle.close())
      .then(() => {
        this.handle = null;
        this.result = { tmpPath: this.tmpPath, hash: this.hash.digest('hex'), size: this.size };
        callback();
      }, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = null;
    if (!handle) return callback(error);
    handle.close().then(
      () => callback(error),
      () => callback(error),
    );
  }
}
