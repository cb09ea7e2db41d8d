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
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';

/** A finished body: in memory (`data`) or in an fsync'd temporary file (`tmpPath`). */
export interface PendingBlob {
  tmpPath: string | null;
  data: Buffer | null;
  hash: string;
  size: number;
}

/** Bodies up to this size are kept in memory and stored inline in the database. */
export const DEFAULT_INLINE_LIMIT = 128 * 1024;

export class FsBlobStore {
  readonly root: string;
  private readonly tmpDir: string;
  /** Shard directories known to exist durably, so their parent needs no fsync again. */
  private readonly knownShards = new Set<string>();
  private writerCount = 0;

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

  createWriter(memoryLimit = DEFAULT_INLINE_LIMIT): BlobWriter {
    return new BlobWriter(path.join(this.tmpDir, `${process.pid}-${++this.writerCount}`), memoryLimit);
  }

  pathOf(hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error(`not a blob hash: ${hash}`);
    return path.join(this.root, hash.slice(0, 2), hash);
  }

  /**
   * Moves finished file blobs into place and makes the renames durable (one fsync per
   * directory). Blobs held in memory are skipped: they go into the database.
   */
  async publish(pending: PendingBlob[]): Promise<void> {
    const blobs = pending.filter((b): b is PendingBlob & { tmpPath: string } => b.tmpPath !== null);
    if (blobs.length === 0) return;
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
    if (blob.tmpPath) await fsp.rm(blob.tmpPath, { force: true });
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
 * A Writable that collects a message body while computing its SHA-256. Bodies up to
 * `memoryLimit` stay in memory (`result.data`), to be stored inline with their rows;
 * a larger body spills to a temporary file that is fsync'd at the end (`result.tmpPath`).
 * Plain callback fs calls: each costs one thread-pool round trip and no promise machinery.
 */
export class BlobWriter extends Writable {
  result: PendingBlob | null = null;
  private readonly hash: Hash = createHash('sha256');
  private size = 0;
  private memory: Buffer[] = [];
  private fd: number | null = null;

  constructor(
    readonly tmpPath: string,
    private readonly memoryLimit: number,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    for (const b of buffers) {
      this.hash.update(b);
      this.size += b.length;
    }
    if (this.fd === null && this.size <= this.memoryLimit) {
      this.memory.push(...buffers);
      return callback();
    }
    if (this.fd !== null) return this.writeAll(buffers, callback);
    fs.open(this.tmpPath, 'wx', 0o640, (err, fd) => {
      if (err) return callback(err);
      this.fd = fd;
      const spilled = [...this.memory, ...buffers];
      this.memory = [];
      this.writeAll(spilled, callback);
    });
  }

  private writeAll(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    fs.writev(this.fd!, buffers, (err, written) => {
      if (err) return callback(err);
      const total = buffers.reduce((n, b) => n + b.length, 0);
      if (written === total) return callback();
      // A short write: continue with what is left.
      const rest = Buffer.concat(buffers).subarray(written);
      this.writeAll([rest], callback);
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    const digest = () => this.hash.digest('hex');
    if (this.fd === null) {
      this.result = { tmpPath: null, data: Buffer.concat(this.memory, this.size), hash: digest(), size: this.size };
      this.memory = [];
      return callback();
    }
    const fd = this.fd;
    fs.fsync(fd, (syncErr) => {
      fs.close(fd, (closeErr) => {
        this.fd = null;
        const err = syncErr ?? closeErr;
        if (err) return callback(err);
        this.result = { tmpPath: this.tmpPath, data: null, hash: digest(), size: this.size };
        callback();
      });
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = null;
    this.memory = [];
    if (fd === null) return callback(error);
    fs.close(fd, () => callback(error));
  }
}
