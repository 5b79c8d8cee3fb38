/** The host's logger. Any object with these four methods fits (console, pino, winston, ...). */
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

const noop = (): void => undefined;

/**
 * The default: say nothing. A library must not write to its host's console uninvited; pass a
 * logger to see what the runner does.
 */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
