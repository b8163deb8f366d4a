/** `GET /v1/audit`: the audit log, newest first, optionally one project's (global admins only). */
import { IDENTITY_ROUTES, ListAuditQuerySchema, ListAuditResponseSchema } from '../../../shared/api/identity.js';
import { listAudit } from '../../../shared/audit.js';
import { invalid, json, requireGlobalAdmin, type Route } from '../http.js';

export const auditRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^${IDENTITY_ROUTES.audit}$`),
    path: IDENTITY_ROUTES.audit,
    methods: {
      GET: async ({ req, caller, deps }) => {
        requireGlobalAdmin(caller);
        const parsed = ListAuditQuerySchema.safeParse(req.query ?? {});
        if (!parsed.success) throw invalid('query', parsed.error);
        const page = await listAudit(deps.db, { limit: parsed.data.limit ?? 50, ...(parsed.data.projectId ? { projectId: parsed.data.projectId } : {}), ...(parsed.data.pageToken ? { after: parsed.data.pageToken } : {}) });
        return json(200, ListAuditResponseSchema.parse({ entries: page.entries, nextPageToken: page.next }));
      },
    },
    docs: { GET: { summary: 'The audit log of security-relevant actions, newest first (admins)', tag: 'audit', query: ListAuditQuerySchema, response: ListAuditResponseSchema } },
  },
];
