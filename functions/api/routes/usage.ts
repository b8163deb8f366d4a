/**
 * `GET /v1/projects/:projectId/usage?from=&to=`: the project's metered usage and estimated cost, for
 * its members. Sums the project's daily usage documents (written with each attempt's usage, in the
 * same transaction: shared/cost/record.ts), so a range costs one read per day with usage, never one
 * per job.
 */
import { FieldPath } from '@google-cloud/firestore';
import { HttpError } from '../../../shared/errors/index.js';
import { PROJECT_ID } from '../../../shared/ids.js';
import { ProjectUsageResponseSchema, USAGE_MAX_DAYS, UsageQuerySchema, type ProjectUsageResponse } from '../../../shared/api/usage.js';
import { usagePaths } from '../../../shared/cost/record.js';
import { sumRecords, UsageRecordSchema, usageDay } from '../../../shared/cost/usage.js';
import { toPlain } from '../../../shared/firestore/client.js';
import { idGroup, invalid, json, requireRole, type Route, type RouteContext } from '../http.js';

const DAY_MS = 86_400_000;

async function projectUsage({ req, caller, deps, params }: RouteContext) {
  const projectId = params.projectId ?? '';
  const parsed = UsageQuerySchema.safeParse(req.query ?? {});
  if (!parsed.success) throw invalid('usage query', parsed.error);
  await requireRole(deps, caller, projectId);
  const to = parsed.data.to ?? usageDay(deps.now?.() ?? new Date());
  const from = parsed.data.from ?? usageDay(new Date(Date.parse(`${to}T00:00:00Z`) - 30 * DAY_MS));
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS + 1;
  if (days < 1) throw new HttpError(400, 'INVALID_ARGUMENT', `from (${from}) is after to (${to})`);
  if (days > USAGE_MAX_DAYS) throw new HttpError(400, 'INVALID_ARGUMENT', `at most ${USAGE_MAX_DAYS} days per request (asked for ${days})`);
  // Day documents are named by their day, so the range is a key range: at most one read per day.
  const snap = await deps.db
    .collection(usagePaths.projectUsage(projectId))
    .where(FieldPath.documentId(), '>=', from)
    .where(FieldPath.documentId(), '<=', to)
    .orderBy(FieldPath.documentId())
    .get();
  const list = snap.docs.map((d) => ({ day: d.id, ...UsageRecordSchema.parse(toPlain(d.data())) }));
  const body: ProjectUsageResponse = { projectId, from, to, currency: 'USD', estimated: true, total: sumRecords(list), days: list };
  return json(200, body);
}

export const usageRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^/v1/projects/${idGroup('projectId', PROJECT_ID)}/usage$`),
    path: '/v1/projects/{projectId}/usage',
    methods: { GET: projectUsage },
    docs: {
      GET: {
        summary: "A project's metered usage (billed units) and estimated cost at list prices, per UTC day and in total",
        tag: 'usage',
        query: UsageQuerySchema,
        response: ProjectUsageResponseSchema,
      },
    },
  },
];
