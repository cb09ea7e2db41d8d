/**
 * The boundaries of the open multiparts, for matching boundary lines in one walk over the
 * line's bytes however many multiparts are open (a trie, so an adversarial message with
 * deep nesting and boundaries sharing prefixes stays linear).
 *
 *   new BoundarySet(); push(boundary); truncate(depth); depth
 *   longestMatch(buf, at): { level, length } | null
 *
 * Matching follows RFC 2046 §5.1.1 / Dovecot: a line matches a boundary if it starts with
 * it (prefix match); the longest matching boundary wins; among equal ones (nested multiparts
 * may reuse a boundary) the innermost, i.e. highest level, wins.
 */

interface TrieNode {
  next: Map<number, TrieNode>;
  /** Levels whose boundary ends here, in push order. */
  levels: number[];
  /** Boundaries passing through this node, for pruning. */
  count: number;
}

const newNode = (): TrieNode => ({ next: new Map(), levels: [], count: 0 });

export class BoundarySet {
  private readonly root = newNode();
  private readonly stack: Buffer[] = [];

  get depth(): number {
    return this.stack.length;
  }

  /** Open a multipart with this boundary; its level is the depth before the push. */
  push(boundary: Buffer): void {
    const level = this.stack.length;
    this.stack.push(boundary);
    let node = this.root;
    node.count++;
    for (const byte of boundary) {
      let child = node.next.get(byte);
      if (child === undefined) {
        child = newNode();
        node.next.set(byte, child);
      }
      child.count++;
      node = child;
    }
    node.levels.push(level);
  }

  /** Close multiparts until `depth` remain. */
  truncate(depth: number): void {
    while (this.stack.length > depth) {
      const boundary = this.stack.pop() as Buffer;
      let node = this.root;
      node.count--;
      const path: TrieNode[] = [node];
      for (const byte of boundary) {
        node = node.next.get(byte) as TrieNode;
        node.count--;
        path.push(node);
      }
      node.levels.pop(); // stack order: the level being closed is the last one pushed here
      for (let i = path.length - 1; i > 0; i--) {
        if (path[i].count === 0) path[i - 1].next.delete(boundary[i - 1]);
      }
    }
  }

  /** The boundary that buf[at...] starts with (the longest; innermost among equals), if any. */
  longestMatch(buf: Buffer, at: number): { level: number; length: number } | null {
    let node = this.root;
    let best: { level: number; length: number } | null = null;
    for (let i = at; i < buf.length; i++) {
      const child = node.next.get(buf[i]);
      if (child === undefined) break;
      node = child;
      if (node.levels.length > 0) best = { level: node.levels[node.levels.length - 1], length: i - at + 1 };
    }
    return best;
  }
}
