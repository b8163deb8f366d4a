/** `scriptorium documents list|delete|download`: a project's documents (`/v1/documents`). */
import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { CliFailure } from '../io.js';
import { opt, qs, resourceCommand } from '../resource-command.js';

const USAGE = `Usage: scriptorium documents SUBCOMMAND [OPTIONS]

  list                      documents of a project (--project ID, default the demo project;
                            --status S, --content-type T, --prefix P, --sort createdAt|-createdAt|fileName,
                            --limit N, --page-token T)
  delete DOCUMENT_ID        delete it: files, chunks, versions, record (editors: their own; admins: any)
  download DOCUMENT_ID      a short-lived signed URL (--what original|text|transcript.srt|…, --version N);
                            with --out FILE the file is fetched and saved there

Prints the api's answer as JSON. Options: --config FILE, -h/--help.
`;

const Signed = z.object({ url: z.string(), fileName: z.string() });

export const documentsCommand = resourceCommand(
  'documents',
  "list, delete and download a project's documents",
  USAGE,
  {
    list: {
      synopsis: 'list',
      arity: 0,
      run: (c) =>
        c.api.call('GET', `/v1/documents${qs({ projectId: opt(c, 'project') ?? c.config.projectId, status: opt(c, 'status'), contentType: opt(c, 'content-type'), q: opt(c, 'prefix'), sort: opt(c, 'sort'), limit: opt(c, 'limit'), pageToken: opt(c, 'page-token') })}`),
    },
    delete: { synopsis: 'delete DOCUMENT_ID', arity: 1, run: (c) => c.api.call('DELETE', `/v1/documents/${encodeURIComponent(c.args[0] ?? '')}`) },
    download: {
      synopsis: 'download DOCUMENT_ID',
      arity: 1,
      run: async (c) => {
        const answer = await c.api.call('GET', `/v1/documents/${encodeURIComponent(c.args[0] ?? '')}/download${qs({ what: opt(c, 'what'), version: opt(c, 'version') })}`);
        const out = opt(c, 'out');
        if (!out) return answer;
        const signed = Signed.parse(answer);
        const res = await fetch(signed.url);
        if (!res.ok) throw new CliFailure(`download failed: storage answered ${res.status}`);
        const bytes = Buffer.from(await res.arrayBuffer());
        await writeFile(out, bytes);
        return { saved: out, bytes: bytes.length, fileName: signed.fileName };
      },
    },
  },
  { project: { type: 'string' }, status: { type: 'string' }, 'content-type': { type: 'string' }, prefix: { type: 'string' }, sort: { type: 'string' }, limit: { type: 'string' }, 'page-token': { type: 'string' }, what: { type: 'string' }, version: { type: 'string' }, out: { type: 'string' } },
);
