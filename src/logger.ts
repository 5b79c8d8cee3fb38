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

/**
 * Text of anything a host's code may throw or hand over, for logs and results. Never throws:
 * `String()` of an object without a prototype (or with a throwing `toString`) does, and such a
 * value must not break the path that reports it.
 */
export function textOf(value: unknown): string {
  try {
    if (value instanceof Error) return value.message === "" ? value.name : value.message;
    return String(value);
  } catch {
    try {
      // undefined for values JSON cannot represent, whatever its declared type says.
      const json = JSON.stringify(value) as string | undefined;
      return json ?? Object.prototype.toString.call(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
}

/**
 * The host's logger, made unable to break the runner: a method that throws is ignored. The
 * runner logs while it stops tasks, and a logger's failure must never keep a StopTask from
 * being sent.
 */
export function safeLogger(logger: Logger): Logger {
  if (logger === silentLogger) return logger;
  const guarded =
    (level: keyof Logger) =>
    (message: string, meta?: Record<string, unknown>): void => {
      try {
        logger[level](message, meta);
      } catch {
        // Best effort by design: nothing useful can be done with a logger that throws.
      }
    };
  return {
    debug: guarded("debug"),
    info: guarded("info"),
    warn: guarded("warn"),
    error: guarded("error"),
  };
}
