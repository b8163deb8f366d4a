/** Pieces both speech-to-text engines share: language tags, abort handling. */
import { PermanentError, TransientError } from '../../errors/index.js';
import { STT_ERROR_CODES } from './types.js';

/**
 * A BCP-47 tag in conventional case (`en-us` → `en-US`, `cmn-hans-cn` → `cmn-Hans-CN`,
 * `en_US` → `en-US`), or undefined when it is not well-formed. Subtags are not replaced by their
 * canonical forms (`cmn` stays `cmn`, not `zh`): services name their languages their own way.
 */
export function normalizeLanguageTag(tag: string): string | undefined {
  const candidate = tag.trim().replace(/_/g, '-');
  if (candidate === '' || candidate.length > 64) return undefined;
  try {
    Intl.getCanonicalLocales(candidate);
  } catch {
    return undefined;
  }
  let inExtension = false;
  return candidate
    .split('-')
    .map((part, i) => {
      // After a singleton (`-u-`, `-x-`) subtags are opaque: lower case by convention.
      if (i > 0 && part.length === 1) inExtension = true;
      if (i === 0 || inExtension) return part.toLowerCase();
      if (part.length === 4 && /^[a-z]+$/i.test(part)) return part[0]?.toUpperCase() + part.slice(1).toLowerCase();
      if ((part.length === 2 && /^[a-z]+$/i.test(part)) || /^\d{3}$/.test(part)) return part.toUpperCase();
      return part.toLowerCase();
    })
    .join('-');
}

/** The primary language subtag in its shortest ISO 639 form (`eng` → `en`, `en-GB` → `en`); undefined for a malformed tag. */
export function primaryLanguage(tag: string): string | undefined {
  const normalized = normalizeLanguageTag(tag);
  if (!normalized) return undefined;
  try {
    // Canonicalization maps three-letter codes that have a two-letter form (eng → en, deu → de).
    return Intl.getCanonicalLocales(normalized)[0]?.split('-')[0];
  } catch {
    return undefined;
  }
}

/** The language an input asks for, checked: a PermanentError LANGUAGE_NOT_SUPPORTED for a malformed tag. */
export function requestedLanguage(language: string | undefined, fallback: string): string {
  const tag = normalizeLanguageTag(language ?? fallback);
  if (!tag) throw new PermanentError(STT_ERROR_CODES.languageNotSupported, `${JSON.stringify(language)} is not a BCP-47 language tag (e.g. en-US)`);
  return tag;
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Aborts are retryable: the caller stops us (a deadline, a shutdown), not the recording. */
export function abortError(signal: AbortSignal | undefined, cause?: unknown): TransientError {
  const reason: unknown = signal?.reason;
  const why = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
  return new TransientError(STT_ERROR_CODES.engineFailed, `transcription aborted: ${why}`, cause ?? reason);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
