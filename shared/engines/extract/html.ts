/**
 * HTML to text with htmlparser2: the text a reader sees, in the order of the source (which for
 * right-to-left text is the logical order: nothing is reordered for display), with the title first.
 */
import { Parser } from 'htmlparser2';

/** Elements whose content is never shown as text. */
const HIDDEN = new Set(['script', 'style', 'template', 'noscript', 'head', 'iframe', 'object', 'embed', 'svg', 'canvas', 'select', 'datalist', 'button', 'map', 'area', 'audio', 'video', 'source', 'track', 'param', 'meta', 'link', 'base']);
/** Elements that end a paragraph: a blank line around them. */
const PARAGRAPH = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'dl', 'table', 'blockquote', 'pre', 'figure', 'hr', 'address', 'article', 'aside', 'section', 'header', 'footer', 'main', 'nav', 'form', 'fieldset', 'details', 'dialog', 'hgroup', 'menu']);
/** Elements that start a new line. */
const LINE = new Set(['div', 'li', 'dt', 'dd', 'tr', 'caption', 'figcaption', 'legend', 'summary', 'option', 'center', 'body', 'html', 'tbody', 'thead', 'tfoot', 'textarea', 'label']);
const CELL = new Set(['td', 'th']);
const PRE = new Set(['pre', 'textarea', 'listing', 'plaintext', 'xmp']);

export interface HtmlText {
  readonly text: string;
  /** The `<title>`, when there is one. */
  readonly title?: string;
  /** The first `lang` attribute (normally `<html lang>`), when there is one. */
  readonly lang?: string;
}

export interface HtmlOptions {
  /**
   * Links whose `href` matches are left out with their text: mammoth's footnote back-links
   * (`↑`, to `#footnote-ref-N`) would otherwise litter a DOCX's notes.
   */
  readonly dropLinks?: RegExp;
}

type Piece = { readonly kind: 'text'; readonly value: string; readonly pre: boolean } | { readonly kind: 'break'; readonly lines: 1 | 2 } | { readonly kind: 'tab' };

/**
 * Visible text of an HTML document: no script, style, template, noscript or head (except the
 * title, which comes first), nothing `hidden` or `display:none`; block elements, `<br>`, list items
 * and table rows on their own lines (cells separated by tabs), paragraphs separated by a blank
 * line, whitespace collapsed except in `<pre>`, entities decoded.
 */
export function htmlToText(html: string, options: HtmlOptions = {}): HtmlText {
  const pieces: Piece[] = [];
  const stack: { name: string; hides: boolean }[] = [];
  let hidden = 0;
  let pre = 0;
  let cells = 0;
  const rowCells: number[] = [];
  let title: string | undefined;
  let inTitle = false;
  let lang: string | undefined;

  const push = (piece: Piece): void => {
    if (piece.kind === 'break' && cells > 0) {
      // Inside a table cell, blocks run on: the row stays one line.
      pieces.push({ kind: 'text', value: ' ', pre: false });
      return;
    }
    pieces.push(piece);
  };

  const parser = new Parser(
    {
      onopentag(name, attribs) {
        lang ??= attribs.lang?.trim() || attribs['xml:lang']?.trim() || undefined;
        const style = (attribs.style ?? '').replace(/\s+/g, '').toLowerCase();
        const dropped = options.dropLinks !== undefined && name === 'a' && options.dropLinks.test(attribs.href ?? '');
        const hides = HIDDEN.has(name) || 'hidden' in attribs || style.includes('display:none') || style.includes('visibility:hidden') || dropped || (name === 'input' && attribs.type === 'hidden');
        stack.push({ name, hides });
        if (name === 'title' && title === undefined) inTitle = true;
        if (hides) hidden++;
        if (hidden > 0) return;
        if (PRE.has(name)) pre++;
        if (name === 'br') push({ kind: 'break', lines: 1 });
        else if (PARAGRAPH.has(name)) push({ kind: 'break', lines: 2 });
        else if (LINE.has(name)) push({ kind: 'break', lines: 1 });
        if (name === 'tr') rowCells.push(0);
        if (CELL.has(name)) {
          const n = rowCells.at(-1);
          if (n !== undefined) {
            if (n > 0) pieces.push({ kind: 'tab' });
            rowCells[rowCells.length - 1] = n + 1;
          }
          cells++;
        }
      },
      ontext(data) {
        if (inTitle) {
          title = (title ?? '') + data;
          return;
        }
        if (hidden > 0) return;
        pieces.push({ kind: 'text', value: data, pre: pre > 0 });
      },
      onclosetag(name) {
        // Pop to the matching element: htmlparser2 closes implied elements itself, this is a guard.
        let index = -1;
        for (let i = stack.length - 1; i >= 0; i--) {
          if (stack[i]?.name === name) {
            index = i;
            break;
          }
        }
        if (index < 0) return;
        const closed = stack.splice(index);
        for (const el of closed.reverse()) {
          if (el.name === 'title') inTitle = false;
          if (el.hides) {
            hidden--;
            continue;
          }
          if (hidden > 0) continue;
          if (PRE.has(el.name)) pre--;
          if (CELL.has(el.name)) cells = Math.max(0, cells - 1);
          if (el.name === 'tr') rowCells.pop();
          if (PARAGRAPH.has(el.name)) push({ kind: 'break', lines: 2 });
          else if (LINE.has(el.name)) push({ kind: 'break', lines: 1 });
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();

  const titleText = collapse(title ?? '').trim();
  const body = assemble(pieces);
  const text = titleText && !body.startsWith(titleText) ? `${titleText}\n\n${body}` : body;
  return { text: text.trim(), ...(titleText ? { title: titleText } : {}), ...(lang ? { lang } : {}) };
}

/** Whitespace as a browser collapses it (no-break spaces become plain spaces: they only glue words). */
function collapse(text: string): string {
  return text.replace(/[\s\u00A0]+/g, ' ');
}

function assemble(pieces: readonly Piece[]): string {
  let out = '';
  const atLineStart = (): boolean => out.length === 0 || out.endsWith('\n') || out.endsWith('\t');
  for (const piece of pieces) {
    switch (piece.kind) {
      case 'text': {
        if (piece.pre) {
          out += piece.value.replace(/\r\n?/g, '\n');
          break;
        }
        let value = collapse(piece.value);
        if (atLineStart() || out.endsWith(' ')) value = value.replace(/^ /, '');
        out += value;
        break;
      }
      case 'tab':
        out = out.replace(/ +$/, '') + '\t';
        break;
      case 'break': {
        out = out.replace(/[ \t]+$/, '');
        if (out.length === 0) break;
        const have = /\n*$/.exec(out)?.[0].length ?? 0;
        if (have < piece.lines) out += '\n'.repeat(piece.lines - have);
        break;
      }
    }
  }
  return out
    .split('\n')
    .map((l) => l.replace(/[ \t]+$/, ''))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n');
}
