/**
 * A start-up failure that names the dependency at fault and what to do about it, so the one
 * fatal log line an operator sees is actionable: "database: ... (hint: check database.url)".
 */

/** What a daemon depends on at start. */
export type Dependency = 'config' | 'database' | 'nats' | 'http' | 'channel';

export class StartupError extends Error {
  constructor(
    readonly dependency: Dependency,
    message: string,
    /** What the operator can do: the config field to check, the service to start. */
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/** Runs one start-up step; a failure that is not yet a StartupError becomes one for `dependency`. */
export async function step<T>(dependency: Dependency, hint: string | ((error: unknown) => string), work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof StartupError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new StartupError(dependency, reason, typeof hint === 'string' ? hint : hint(error), { cause: error });
  }
}
