/**
 * YAML that parses but cannot become settings: an alias to an anchor that
 * is not (yet) set, a `<<` merge of something other than a mapping, a key
 * that is a list or a mapping, an empty key. The yaml library reports the
 * first two only when converting, without a position, and turns the last two
 * into odd names ("[ complex ]", "") with a process warning; found here
 * first, each is reported where it is written.
 */
import { isAlias, isCollection, isMap, isScalar, isSeq, visit, type Document, type Node } from 'yaml';

export interface ShapeProblem {
  /** Offset in the text. */
  offset: number;
  message: string;
}

export function yamlShapeProblems(doc: Document): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  const at = (node: Node | null | undefined) => node?.range?.[0] ?? 0;
  const resolved = (node: unknown): unknown => (isAlias(node) ? node.resolve(doc) : node);
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) === undefined) problems.push({ offset: at(node), message: `alias *${node.source} refers to no anchor &${node.source} written before it` });
    },
    Pair(_key, pair) {
      const key = pair.key as Node | null;
      if (isScalar(key) && (key.value === '<<' || typeof key.value === 'symbol')) {
        const value = resolved(pair.value);
        const sources = isSeq(value) ? value.items.map(resolved) : [value];
        if (!sources.every((s) => isMap(s))) problems.push({ offset: at(key), message: 'a << merge takes a mapping, an alias of one, or a list of those' });
        return;
      }
      if (isCollection(key) || isAlias(key)) problems.push({ offset: at(key), message: 'a key must be a plain name, not a list or a mapping' });
      else if (key === null || (isScalar(key) && (key.value === null || key.value === ''))) problems.push({ offset: at(key ?? (pair.value as Node | null)), message: 'a key is empty' });
    },
  });
  return problems;
}

/** Where the first alias is written (0 if there is none). */
export function firstAliasOffset(doc: Document): number {
  let offset = 0;
  visit(doc, {
    Alias(_key, node) {
      offset = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return offset;
}
