/**
 * Runs a child process the way the engines need it: arguments as an array (never a shell), a
 * timeout and an AbortSignal that both SIGKILL the child, and bounded capture of stdout/stderr so a
 * runaway tool (a damaged PDF can make poppler print thousands of warnings) cannot exhaust memory.
 */
import { spawn } from 'node:child_process';

/** Options of {@link runProcess}. */
export interface RunOptions {
  /** Kill the child after this many milliseconds (no limit when absent or ≤ 0). */
  readonly timeoutMs?: number;
  /** Kill the child when this aborts. */
  readonly signal?: AbortSignal;
  /** Variables added to (and overriding) the parent's environment. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Bytes of stdout kept (the head); the rest is drained and dropped. Default 32 MiB. */
  readonly maxStdoutBytes?: number;
  /** Bytes of stderr kept (the tail: the last lines usually say what went wrong). Default 64 KiB. */
  readonly maxStderrBytes?: number;
}

/** What a finished child left behind. A non-zero exit is a result, not an error: callers classify it. */
export interface RunResult {
  /** Exit code; null when the child was ended by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
  readonly durationMs: number;
}

/** Why {@link runProcess} could not produce a {@link RunResult}. */
export type RunFailureKind = 'not-found' | 'spawn-failed' | 'timeout' | 'aborted';

/** Thrown by {@link runProcess} when the child could not be started, timed out or was aborted. */
export class RunError extends Error {
  readonly kind: RunFailureKind;
  readonly command: string;
  /** stderr captured before the child was killed (timeouts, aborts). */
  readonly stderr: string;
  constructor(kind: RunFailureKind, command: string, message: string, options: { cause?: unknown; stderr?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RunError';
    this.kind = kind;
    this.command = command;
    this.stderr = options.stderr ?? '';
  }
}

/** Collects a stream's chunks up to a byte budget, keeping either the head or the tail. */
class BoundedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(
    private readonly limit: number,
    private readonly keep: 'head' | 'tail',
  ) {}

  push(chunk: Buffer): void {
    if (this.keep === 'head') {
      const room = this.limit - this.size;
      if (room <= 0) {
        this.truncated = true;
        return;
      }
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      if (part !== chunk) this.truncated = true;
      this.chunks.push(part);
      this.size += part.length;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    // Compact only when well over budget, so a chatty child does not make this quadratic.
    if (this.size > this.limit * 2) this.compactTail();
  }

  private compactTail(): void {
    if (this.size <= this.limit) return;
    const all = Buffer.concat(this.chunks);
    this.chunks = [all.subarray(all.length - this.limit)];
    this.size = this.limit;
    this.truncated = true;
  }

  text(): string {
    if (this.keep === 'tail') this.compactTail();
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * Runs `command` with `args` and resolves when it exits, whatever its exit code. Rejects with a
 * {@link RunError} when the binary is missing (`not-found`, from ENOENT), cannot be spawned, runs
 * past `timeoutMs`, or `signal` aborts; in the last two cases the child is SIGKILLed first, and the
 * promise settles only once it has exited, so temp files it was writing can be removed safely.
 */
export function runProcess(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise<RunResult>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new RunError('aborted', command, `${command} not started: aborted`, { cause: options.signal.reason }));
      return;
    }
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const stdout = new BoundedBuffer(options.maxStdoutBytes ?? 32 * 1024 * 1024, 'head');
    const stderr = new BoundedBuffer(options.maxStderrBytes ?? 64 * 1024, 'tail');
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

    let failure: RunError | undefined;
    const kill = (error: RunError): void => {
      failure ??= error;
      child.kill('SIGKILL');
    };
    const timer =
      options.timeoutMs !== undefined && options.timeoutMs > 0
        ? setTimeout(() => kill(new RunError('timeout', command, `${command} timed out after ${options.timeoutMs} ms`)), options.timeoutMs)
        : undefined;
    const onAbort = (): void => kill(new RunError('aborted', command, `${command} aborted`, { cause: options.signal?.reason }));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };

    child.on('error', (err: NodeJS.ErrnoException) => {
      // 'error' without a pid means spawn itself failed; with a pid it is a failed kill, and 'close' follows.
      if (child.pid !== undefined) return;
      cleanup();
      const kind: RunFailureKind = err.code === 'ENOENT' ? 'not-found' : 'spawn-failed';
      reject(new RunError(kind, command, kind === 'not-found' ? `${command}: not installed (not found on PATH)` : `${command}: cannot start: ${err.message}`, { cause: err }));
    });
    // 'close' (not 'exit') waits for the pipes to drain, so the captured output is complete.
    child.once('close', (code, signal) => {
      cleanup();
      const err = failure;
      if (err) {
        reject(new RunError(err.kind, command, err.message, { cause: err.cause, stderr: stderr.text() }));
        return;
      }
      resolve({
        code,
        signal,
        stdout: stdout.text(),
        stderr: stderr.text(),
        stdoutTruncated: stdout.truncated,
        stderrTruncated: stderr.truncated,
        durationMs: performance.now() - started,
      });
    });
  });
}
