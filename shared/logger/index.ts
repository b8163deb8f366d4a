/**
 * Structured Cloud Logging lines: one JSON object per line on stdout with `severity` and `message`,
 * merged fields, and the trace field when known. A plain exported object, so tests can replace `sink`.
 */
export type Severity = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR';
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

/** Where lines go; tests swap it to capture parsed entries. */
export const sink = { write: (line: string): void => void process.stdout.write(line + '\n') };

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message, stack: value.stack };
    for (const k of ['code', 'retryable', 'status']) if (k in value) out[k] = (value as unknown as Record<string, unknown>)[k];
    if (value.cause !== undefined) out.cause = serialise(value.cause);
    return out;
  }
  return value;
}

export function createLogger(base: Fields = {}): Logger {
  const emit = (severity: Severity, message: string, fields?: Fields): void => {
    const entry: Record<string, unknown> = { severity, message, time: new Date().toISOString(), ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) entry[k] = serialise(v);
    sink.write(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => emit('DEBUG', m, f),
    info: (m, f) => emit('INFO', m, f),
    warn: (m, f) => emit('WARNING', m, f),
    error: (m, f) => emit('ERROR', m, f),
    child: (fields) => createLogger({ ...base, ...fields }),
  };
}

export const logger = createLogger();
