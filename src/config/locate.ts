/** Maps key paths back to line and column in the YAML source. */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { Segment } from './issue.js';

export interface Position {
  readonly line: number;
  readonly col: number;
}

export class YamlLocator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  position(node: Node | null | undefined): Position | undefined {
    if (!node?.range) return undefined;
    return this.lines.linePos(node.range[0]);
  }

  /**
   * Where the key or the value at `path` is written. When the file does not
   * spell the path out (a `<<` merge, a path created from the environment),
   * the closest enclosing key that it does; undefined for a top-level
   * setting left to its default.
   */
  find(path: readonly Segment[], at: 'key' | 'value'): Position | undefined {
    let node: unknown = this.doc.contents;
    let closest: Position | undefined;
    for (const [i, segment] of path.entries()) {
      if (isAlias(node)) node = node.resolve(this.doc);
      let key: Node | null | undefined;
      let value: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) return closest;
        key = pair.key as Node;
        value = pair.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        value = node.items[segment];
        if (value === undefined) return closest;
      } else {
        return closest;
      }
      const valuePosition = this.position(value as Node | null) ?? this.position(key);
      if (i === path.length - 1) return at === 'key' ? (this.position(key) ?? valuePosition) : valuePosition;
      closest = this.position(key) ?? valuePosition ?? closest;
      node = value;
    }
    return closest;
  }
}
