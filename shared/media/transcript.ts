/**
 * Transcripts and their file formats: plain text, JSON with segment and word timings, SubRip (SRT)
 * and WebVTT. Pure functions.
 *
 * Subtitles are not the recognizer's segments as they are: a 55-second segment would be one
 * unreadable cue. Segments are broken into cues of at most two lines of 42 characters and 7
 * seconds (common broadcast subtitle limits), at word boundaries, preferring sentence ends. With
 * word timings each cue spans its own words; without them, a segment's time is shared out in
 * proportion to characters, which is what a reader would assume.
 */
import { z } from 'zod';

/** One recognized word. Times in seconds from the start of the recording. */
export interface TranscriptWord {
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** 0–1, when the engine gives one. */
  readonly confidence?: number;
}

/** A stretch of speech as the recognizer returned it (an utterance, a result). */
export interface TranscriptSegment {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** 0–1, when the engine gives one. */
  readonly confidence?: number;
  /** In order, when the engine gives word timings. */
  readonly words?: readonly TranscriptWord[];
  /** BCP-47, when the engine detected it for this segment. */
  readonly language?: string;
}

/** A whole recording's transcript. */
export interface Transcript {
  /** BCP-47 tag of the transcript's language, e.g. `en-US`. */
  readonly language: string;
  readonly durationSeconds: number;
  readonly segments: readonly TranscriptSegment[];
  readonly engine?: string;
  readonly model?: string;
}

// ---------------------------------------------------------------------------------------------
// Assembly

/** Segments with every time moved by `offsetSeconds` (a segment file's start in the recording). */
export function shiftSegments(segments: readonly TranscriptSegment[], offsetSeconds: number): TranscriptSegment[] {
  if (offsetSeconds === 0) return [...segments];
  const shift = (t: number): number => round6(t + offsetSeconds);
  return segments.map((s) => ({
    ...s,
    start: shift(s.start),
    end: shift(s.end),
    ...(s.words ? { words: s.words.map((w) => ({ ...w, start: shift(w.start), end: shift(w.end) })) } : {}),
  }));
}

/** One transcribed piece of a recording: segments timed from the piece's own start. */
export interface TranscriptPart {
  readonly offsetSeconds: number;
  readonly segments: readonly TranscriptSegment[];
}

/**
 * Joins the pieces of a recording transcribed separately into one transcript: times shifted by each
 * piece's offset, pieces in time order, empty segments dropped, times clamped to the recording and
 * made non-decreasing (engines round, and neighbouring pieces may overlap by a frame).
 */
export function assembleTranscript(parts: readonly TranscriptPart[], meta: Omit<Transcript, 'segments'>): Transcript {
  const ordered = [...parts].sort((a, b) => a.offsetSeconds - b.offsetSeconds);
  const clamp = (t: number): number => Math.min(meta.durationSeconds, Math.max(0, t));
  const segments: TranscriptSegment[] = [];
  let floor = 0;
  for (const part of ordered) {
    for (const s of shiftSegments(part.segments, part.offsetSeconds)) {
      const text = s.text.trim();
      if (text === '') continue;
      const start = Math.max(floor, clamp(s.start));
      const end = Math.max(start, clamp(s.end));
      const words = s.words?.map((w) => {
        const ws = Math.min(end, Math.max(start, clamp(w.start)));
        return { ...w, start: ws, end: Math.min(end, Math.max(ws, clamp(w.end))) };
      });
      segments.push({ ...s, text, start, end, ...(words ? { words } : {}) });
      floor = start;
    }
  }
  return { ...meta, segments };
}

// ---------------------------------------------------------------------------------------------
// Plain text and JSON

/** The transcript's text, one segment per line. */
export function toPlainText(transcript: Transcript): string {
  const lines = transcript.segments.map((s) => s.text.trim()).filter((t) => t.length > 0);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

const TimeSchema = z.number().finite().nonnegative();
const WordJsonSchema = z.object({ text: z.string(), start: TimeSchema, end: TimeSchema, confidence: z.number().min(0).max(1).optional() });
const SegmentJsonSchema = z.object({
  id: z.number().int().nonnegative(),
  start: TimeSchema,
  end: TimeSchema,
  text: z.string(),
  confidence: z.number().min(0).max(1).optional(),
  language: z.string().optional(),
  words: z.array(WordJsonSchema).optional(),
});

/** The JSON transcript format (version 1): what {@link toTranscriptJson} writes and {@link parseTranscriptJson} reads. */
export const TranscriptJsonSchema = z.object({
  version: z.literal(1),
  language: z.string(),
  durationSeconds: TimeSchema,
  engine: z.string().optional(),
  model: z.string().optional(),
  /** The plain text, for consumers that want only that. */
  text: z.string(),
  segments: z.array(SegmentJsonSchema),
});
export type TranscriptJson = z.infer<typeof TranscriptJsonSchema>;

/** The transcript as a JSON-ready object: times in seconds rounded to the millisecond. */
export function toTranscriptJson(transcript: Transcript): TranscriptJson {
  return {
    version: 1,
    language: transcript.language,
    durationSeconds: ms(transcript.durationSeconds),
    ...(transcript.engine ? { engine: transcript.engine } : {}),
    ...(transcript.model ? { model: transcript.model } : {}),
    text: transcript.segments
      .map((s) => s.text.trim())
      .filter(Boolean)
      .join(' '),
    segments: transcript.segments.map((s, id) => ({
      id,
      start: ms(s.start),
      end: ms(s.end),
      text: s.text,
      ...(s.confidence !== undefined ? { confidence: round3(s.confidence) } : {}),
      ...(s.language ? { language: s.language } : {}),
      ...(s.words ? { words: s.words.map((w) => ({ text: w.text, start: ms(w.start), end: ms(w.end), ...(w.confidence !== undefined ? { confidence: round3(w.confidence) } : {}) })) } : {}),
    })),
  };
}

/** {@link toTranscriptJson} serialized, two-space indented, with a final newline. */
export function formatTranscriptJson(transcript: Transcript): string {
  return `${JSON.stringify(toTranscriptJson(transcript), null, 2)}\n`;
}

/** Reads a JSON transcript back (throws a ZodError or SyntaxError for anything else). */
export function parseTranscriptJson(text: string): Transcript {
  const json = TranscriptJsonSchema.parse(JSON.parse(text));
  return {
    language: json.language,
    durationSeconds: json.durationSeconds,
    ...(json.engine ? { engine: json.engine } : {}),
    ...(json.model ? { model: json.model } : {}),
    segments: json.segments.map(({ id: _id, ...s }) => s),
  };
}

// ---------------------------------------------------------------------------------------------
// Subtitles

/** Limits of {@link captionCues}. */
export interface CaptionOptions {
  /** Characters per line (default 42). */
  readonly maxLineChars?: number;
  /** Lines per cue (default 2). */
  readonly maxLines?: number;
  /** Longest cue, in seconds (default 7). */
  readonly maxCueSeconds?: number;
}

/** One subtitle. */
export interface Cue {
  readonly start: number;
  readonly end: number;
  readonly lines: readonly string[];
}

const CAPTION_DEFAULTS = { maxLineChars: 42, maxLines: 2, maxCueSeconds: 7 } as const;

/** A word with its time, whether the engine timed it or it was estimated. */
interface TimedToken {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

/**
 * The transcript as subtitle cues (see the module comment): in time order, never overlapping, each
 * at least one millisecond long, text on at most `maxLines` lines (a single word longer than a
 * line is kept whole).
 */
export function captionCues(transcript: Transcript, options: CaptionOptions = {}): Cue[] {
  const maxLineChars = Math.max(1, options.maxLineChars ?? CAPTION_DEFAULTS.maxLineChars);
  const maxLines = Math.max(1, options.maxLines ?? CAPTION_DEFAULTS.maxLines);
  const maxChars = maxLineChars * maxLines;
  const maxSeconds = options.maxCueSeconds ?? CAPTION_DEFAULTS.maxCueSeconds;
  const cues: Cue[] = [];
  for (const segment of transcript.segments) {
    const tokens = segmentTokens(segment);
    let group: TimedToken[] = [];
    const flush = (): void => {
      if (group.length === 0) return;
      const first = group[0];
      const last = group.at(-1);
      if (first && last) cues.push({ start: first.start, end: last.end, lines: wrapLines(group.map((t) => t.text).join(' '), maxLineChars, maxLines) });
      group = [];
    };
    for (const token of tokens) {
      const first = group[0];
      if (first) {
        const chars = group.reduce((n, t) => n + t.text.length + 1, 0) + token.text.length;
        const tooLong = chars > maxChars || token.end - first.start > maxSeconds;
        // A sentence end past half the cue's room is a better break than the limit.
        const previous = group.at(-1)?.text ?? '';
        const sentenceBreak = /[.!?…]["”’)]?$/u.test(previous) && chars > maxChars / 2;
        if (tooLong || sentenceBreak) flush();
      }
      group.push(token);
    }
    flush();
  }
  return tidyCues(cues);
}

/** Words of a segment with times: the engine's, or shared out by characters. */
function segmentTokens(segment: TranscriptSegment): TimedToken[] {
  const timed = segment.words?.filter((w) => w.text.trim() !== '');
  if (timed && timed.length > 0) {
    // Word lists may hold tokens the text spells differently (punctuation): keep the words, which carry the times.
    return timed.map((w) => ({ text: cleanText(w.text), start: w.start, end: Math.max(w.start, w.end) }));
  }
  const words = cleanText(segment.text).split(' ').filter(Boolean);
  const total = words.reduce((n, w) => n + w.length + 1, 0);
  const span = Math.max(0, segment.end - segment.start);
  let at = 0;
  return words.map((text) => {
    const start = segment.start + (span * at) / total;
    at += text.length + 1;
    return { text, start, end: segment.start + (span * at) / total };
  });
}

/** Single-line text: whitespace (line breaks included: a blank line would end an SRT cue) collapsed, control characters dropped. */
function cleanText(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .replace(/\p{Cc}/gu, '')
    .trim();
}

/**
 * Breaks text into at most `maxLines` lines of about `maxLineChars`, balanced (two lines of similar
 * length read better than a full line and a stub), breaking only at spaces.
 */
export function wrapLines(text: string, maxLineChars: number, maxLines = 2): string[] {
  const words = cleanText(text).split(' ').filter(Boolean);
  if (words.length === 0) return [];
  const full = words.join(' ');
  if (full.length <= maxLineChars || maxLines === 1) return [full];
  const lines = Math.min(maxLines, Math.max(2, Math.ceil(full.length / maxLineChars)), words.length);
  const target = full.length / lines;
  const out: string[] = [];
  let current: string[] = [];
  for (const word of words) {
    const length = current.join(' ').length;
    const remainingLines = lines - out.length;
    if (current.length > 0 && remainingLines > 1 && (length + 1 + word.length > maxLineChars || length >= target)) {
      out.push(current.join(' '));
      current = [];
    }
    current.push(word);
  }
  out.push(current.join(' '));
  return out;
}

/** In order, non-overlapping, at least 1 ms long once rounded to milliseconds. */
function tidyCues(cues: readonly Cue[]): Cue[] {
  const out: Cue[] = [];
  let floor = 0;
  for (const cue of [...cues].sort((a, b) => a.start - b.start)) {
    if (cue.lines.length === 0) continue;
    const start = Math.max(floor, ms(cue.start));
    const end = Math.max(start + 0.001, ms(cue.end));
    out.push({ start, end: ms(end), lines: cue.lines });
    floor = ms(end);
  }
  return out;
}

/**
 * A time as subtitles write it: `HH:MM:SS,mmm` for SRT, `HH:MM:SS.mmm` for WebVTT. Rounded to the
 * millisecond; negative times are 0; hours grow past two digits when they must.
 */
export function formatTimestamp(seconds: number, format: 'srt' | 'vtt'): string {
  const total = Math.max(0, Math.round((Number.isFinite(seconds) ? seconds : 0) * 1000));
  const msPart = total % 1000;
  const s = Math.floor(total / 1000) % 60;
  const m = Math.floor(total / 60_000) % 60;
  const h = Math.floor(total / 3_600_000);
  const sep = format === 'srt' ? ',' : '.';
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}${sep}${String(msPart).padStart(3, '0')}`;
}

/** SubRip: numbered cues from 1, CRLF-free (LF), a blank line after each. Empty transcript → empty string. */
export function toSrt(transcript: Transcript, options: CaptionOptions = {}): string {
  return captionCues(transcript, options)
    .map((cue, i) => {
      // "-->" inside text would read as a timing line to line-based parsers.
      const lines = cue.lines.map((l) => l.replace(/-->/g, '->'));
      return `${i + 1}\n${formatTimestamp(cue.start, 'srt')} --> ${formatTimestamp(cue.end, 'srt')}\n${lines.join('\n')}\n`;
    })
    .join('\n');
}

/** WebVTT: the `WEBVTT` header, then cues with `&`, `<` and `>` escaped (so "-->" cannot occur in text). */
export function toWebVtt(transcript: Transcript, options: CaptionOptions = {}): string {
  const cues = captionCues(transcript, options).map((cue) => `${formatTimestamp(cue.start, 'vtt')} --> ${formatTimestamp(cue.end, 'vtt')}\n${cue.lines.map(escapeVtt).join('\n')}\n`);
  return cues.length === 0 ? 'WEBVTT\n' : `WEBVTT\n\n${cues.join('\n')}`;
}

function escapeVtt(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The transcript formats results are stored in. */
export type TranscriptFormat = 'txt' | 'json' | 'srt' | 'vtt';

/** The transcript in one of the stored formats, with its content type. */
export function formatTranscript(transcript: Transcript, format: TranscriptFormat, options: CaptionOptions = {}): { readonly body: string; readonly contentType: string } {
  switch (format) {
    case 'txt':
      return { body: toPlainText(transcript), contentType: 'text/plain; charset=utf-8' };
    case 'json':
      return { body: formatTranscriptJson(transcript), contentType: 'application/json' };
    case 'srt':
      return { body: toSrt(transcript, options), contentType: 'application/x-subrip; charset=utf-8' };
    case 'vtt':
      return { body: toWebVtt(transcript, options), contentType: 'text/vtt; charset=utf-8' };
  }
}

function ms(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/**
 * Where each line of {@link toPlainText}'s text came from: the character range of every non-empty
 * segment in that text, with the segment's times. The transcript's plain text is a recording's
 * document text, so a chunk's character offsets map back to times in the recording through this.
 */
export function segmentOffsets(transcript: Transcript): { readonly charStart: number; readonly charEnd: number; readonly start: number; readonly end: number }[] {
  const out: { charStart: number; charEnd: number; start: number; end: number }[] = [];
  let at = 0;
  for (const s of transcript.segments) {
    const text = s.text.trim();
    if (text.length === 0) continue;
    out.push({ charStart: at, charEnd: at + text.length, start: s.start, end: s.end });
    at += text.length + 1;
  }
  return out;
}

/** The time span (seconds) of the text between two character offsets of the plain transcript, or null when it covers no segment. */
export function timeSpanOf(offsets: ReturnType<typeof segmentOffsets>, charStart: number, charEnd: number): { readonly start: number; readonly end: number } | null {
  const covered = offsets.filter((o) => o.charStart < charEnd && o.charEnd > charStart);
  const first = covered[0];
  const last = covered.at(-1);
  return first && last ? { start: first.start, end: last.end } : null;
}
