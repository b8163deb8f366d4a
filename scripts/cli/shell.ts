/**
 * Shell quoting for the command lines the CLI prints (POSIX sh).
 */

/** Always single-quoted: `it's` → `'it'\''s'`. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Quoted only when it has to be, so common arguments stay readable. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : shellQuote(s);
}

/** `curl -X PUT -H '...' --data-binary @FILE 'URL'`: the upload a signed URL expects. */
export function curlPutCommand(url: string, headers: Readonly<Record<string, string>>, file: string): string {
  const parts = ['curl', '-X', 'PUT'];
  for (const [name, value] of Object.entries(headers)) parts.push('-H', shellQuote(`${name}: ${value}`));
  parts.push('--data-binary', shellWord(`@${file}`), shellQuote(url));
  return parts.join(' ');
}
