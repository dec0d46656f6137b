/** Where a configuration problem comes from. */
export type ProblemOrigin =
  | { readonly kind: 'file'; readonly file: string; readonly line?: number; readonly col?: number }
  | { readonly kind: 'env'; readonly variable: string }
  /** Settings given without a file (the control API): messages carry the key path only. */
  | { readonly kind: 'settings' };

export interface ConfigProblem {
  readonly origin: ProblemOrigin;
  /** Dotted key path such as `paths.cam1.maxReaders`; absent for syntax errors. */
  readonly keyPath?: string;
  readonly message: string;
}

/** `file:line:col: key.path: message`, the shape editors and terminals turn into links. */
export function formatProblem(problem: ConfigProblem): string {
  const { origin, keyPath, message } = problem;
  if (origin.kind === 'settings') return keyPath === undefined || keyPath === '' ? message : `${keyPath}: ${message}`;
  const where =
    origin.kind === 'env'
      ? `env ${origin.variable}`
      : origin.line === undefined
        ? origin.file
        : `${origin.file}:${origin.line}:${origin.col ?? 1}`;
  return keyPath === undefined ? `${where}: ${message}` : `${where}: ${keyPath}: ${message}`;
}

/** Thrown by the loader with every problem found, one per line of the message. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}
