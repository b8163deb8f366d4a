/**
 * Progress rendering for stderr. The render functions are pure (strings in, string out) so they are
 * unit-tested; {@link LineDrawer} is the only part that writes, and only to a TTY.
 */
import type { OutStream } from './io.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** Bytes in binary units: `512 B`, `16.6 KiB`, `1.8 MiB`. */
export function formatBytes(bytes: number): string {
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** A duration for humans: `850 ms`, `2.1 s`, `3 m 05 s`. */
export function formatDuration(ms: number): string {
  const t = Math.max(0, ms);
  if (t < 1000) return `${Math.round(t)} ms`;
  if (t < 60_000) return `${(t / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(t / 1000);
  return `${Math.floor(totalSeconds / 60)} m ${String(totalSeconds % 60).padStart(2, '0')} s`;
}

/** `[#####-----]` with `width` cells inside the brackets; the fraction is clamped to 0–1. */
export function renderBar(fraction: number, width: number): string {
  const cells = Math.max(1, Math.floor(width));
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * cells);
  return `[${'#'.repeat(filled)}${'-'.repeat(cells - filled)}]`;
}

/** Whole percent, clamped to 0–100 (a zero total counts as done). */
export function percent(done: number, total: number): number {
  if (total <= 0) return 100;
  return Math.min(100, Math.max(0, Math.floor((done / total) * 100)));
}

/** Shortens `s` to `max` characters, marking the cut with `…`. */
export function ellipsize(s: string, max: number): string {
  if (s.length <= max) return s;
  return max <= 1 ? s.slice(0, Math.max(0, max)) : `${s.slice(0, max - 1)}…`;
}

/**
 * Fits `prefix bar suffix` into `columns`: the bar takes what is left, between 10 and 40 cells; a
 * prefix too long for that (a long file name) is shortened, the numbers in the suffix never are.
 */
function withBar(prefix: string, fraction: number, suffix: string, columns: number): string {
  const MIN_BAR = 10;
  const fixed = suffix.length + 4; // two spaces and the brackets
  const head = ellipsize(prefix, Math.max(8, columns - 1 - fixed - MIN_BAR));
  const room = columns - 1 - head.length - fixed;
  const line = `${head} ${renderBar(fraction, Math.min(40, Math.max(MIN_BAR, room)))} ${suffix}`;
  // Never wrap: a wrapped line breaks the carriage-return redraw.
  return line.length > columns ? line.slice(0, Math.max(0, columns - 1)) : line;
}

/** Input of {@link renderUploadProgress}. */
export interface UploadProgress {
  readonly label: string;
  readonly sent: number;
  readonly total: number;
  readonly elapsedMs: number;
  /** Terminal width. */
  readonly columns: number;
}

/** One line: `upload a.pdf [####------]  40%  6.6 KiB / 16.6 KiB  1.2 MiB/s`. */
export function renderUploadProgress(p: UploadProgress): string {
  const pct = `${String(percent(p.sent, p.total)).padStart(3)}%`;
  // Fixed-width fields: the bar's width is what is left, so it must not change between redraws.
  const rate = p.elapsedMs > 0 ? `${formatBytes((p.sent / p.elapsedMs) * 1000)}/s` : '';
  const suffix = `${pct}  ${formatBytes(p.sent).padStart(9)} / ${formatBytes(p.total)}  ${rate.padStart(11)}`;
  return withBar(`upload ${p.label}`, p.total > 0 ? p.sent / p.total : 1, suffix, p.columns);
}

/** The line printed once an upload is done (instead of the bar when stderr is not a terminal). */
export function renderUploadDone(label: string, bytes: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? `, ${formatBytes((bytes / elapsedMs) * 1000)}/s` : '';
  return `uploaded ${label}: ${formatBytes(bytes)} in ${formatDuration(elapsedMs)}${rate}`;
}

/** Input of {@link renderJobProgress}. */
export interface JobProgress {
  readonly jobId: string;
  readonly status: string;
  readonly stage: string | null;
  /** 0–100, or null before the job reports any. */
  readonly progress: number | null;
  readonly columns: number;
  /** After the percentage, e.g. `stalled: no progress for 75 s`. */
  readonly note?: string;
}

/** One line: `job j1 RUNNING   ocr    [####------]  45%` (then the note, if any). */
export function renderJobProgress(p: JobProgress): string {
  const pct = p.progress ?? 0;
  // Padded so the bar does not jump sideways as status and stage change.
  const prefix = `job ${p.jobId} ${p.status.padEnd(9)} ${(p.stage ?? '').padEnd(6)}`.trimEnd();
  const suffix = `${String(Math.round(pct)).padStart(3)}%${p.note ? `  ${p.note}` : ''}`;
  return withBar(prefix.padEnd(`job ${p.jobId}`.length + 17), pct / 100, suffix, p.columns);
}

/** Seconds without progress: `75 s` (whole seconds, so a line redrawn every second counts up), `2.5 s` below 10 s. */
export function formatIdle(idleMs: number): string {
  const t = Math.max(0, idleMs);
  return t < 10_000 ? `${(t / 1000).toFixed(1)} s` : `${Math.floor(t / 1000)} s`;
}

/** `stalled: no progress for 75 s`. */
export function formatStalled(idleMs: number): string {
  return `stalled: no progress for ${formatIdle(idleMs)}`;
}

/** Input of {@link renderBatchProgress}: where an upload of several files stands. */
export interface BatchProgress {
  readonly files: number;
  readonly bytes: number;
  /** Files whose upload has ended (stored or refused). */
  readonly filesDone: number;
  readonly sentBytes: number;
  /** Files that are finished: the job ended (or, without waiting, the upload), or they failed earlier. */
  readonly finished: number;
  /** Finished files that did not end well (job FAILED/CANCELLED, refused, unreadable, ...). */
  readonly failed: number;
  /** Whether jobs are followed (else there is no job count to show). */
  readonly wait: boolean;
  readonly columns: number;
}

/**
 * One line for a whole batch: `upload [####------]  3/10 files  1.2 MiB / 4.0 MiB  jobs 2/10 done, 1 failed`.
 * The bar is the share of finished files; counts are padded to the total's width so the line keeps
 * its length while they grow.
 */
export function renderBatchProgress(p: BatchProgress): string {
  const w = String(p.files).length;
  const count = (n: number) => `${String(n).padStart(w)}/${p.files}`;
  const bytes = `${formatBytes(p.sentBytes).padStart(9)} / ${formatBytes(p.bytes)}`;
  const failed = p.failed > 0 ? `, ${p.failed} failed` : '';
  const suffix = p.wait ? `${count(p.filesDone)} files  ${bytes}  jobs ${count(p.finished)} done${failed}` : `${count(p.filesDone)} files  ${bytes}${failed}`;
  return withBar('upload', p.files > 0 ? p.finished / p.files : 1, suffix, p.columns);
}

/** Redraws one line in place on a TTY (carriage return, then clear to end of line). */
export class LineDrawer {
  private drawn = false;
  private lastDrawAt = 0;

  constructor(
    private readonly out: OutStream,
    /** Minimum time between redraws: repainting on every chunk costs more than the upload. */
    private readonly minIntervalMs = 80,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Terminal width (80 when unknown). */
  get columns(): number {
    return this.out.columns && this.out.columns > 0 ? this.out.columns : 80;
  }

  /** Draws `line` unless the last draw was too recent (`force` draws anyway). */
  draw(line: string, force = false): void {
    const now = this.clock();
    if (!force && this.drawn && now - this.lastDrawAt < this.minIntervalMs) return;
    this.lastDrawAt = now;
    this.drawn = true;
    this.out.write(`\r${line}\x1b[K`);
  }

  /**
   * Writes a whole line above the one being redrawn (which the next {@link draw} puts back): for
   * messages, such as a file that failed, in the middle of a progress display.
   */
  printAbove(line: string): void {
    this.out.write(this.drawn ? `\r\x1b[K${line}\n` : `${line}\n`);
    this.drawn = false;
  }

  /** Ends the line (if anything was drawn) so later output starts on a fresh one. */
  finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
