/**
 * `GET /v1/projects/:projectId/usage`: a project's metered usage and estimated cost over a range of
 * UTC days, summed from its daily usage documents (`projects/{p}/usage/{yyyy-mm-dd}`).
 */
import { z } from 'zod';
import { UsageRecordSchema } from '../cost/usage.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const DaySchema = z
  .string()
  .regex(DAY, 'a UTC day as yyyy-mm-dd')
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), 'not a calendar day');

/** Longest range one request sums (the answer lists each day). */
export const USAGE_MAX_DAYS = 366;

export const UsageQuerySchema = z
  .object({
    /** First day included (default: 30 days before `to`). */
    from: DaySchema.optional(),
    /** Last day included (default: today, UTC). */
    to: DaySchema.optional(),
  })
  .strict();
export type UsageQuery = z.infer<typeof UsageQuerySchema>;

export const UsageDaySchema = UsageRecordSchema.extend({ day: z.string() });

export const ProjectUsageResponseSchema = z.object({
  projectId: z.string(),
  from: z.string(),
  to: z.string(),
  currency: z.literal('USD'),
  /** Always true: list prices × metered units, not a bill. */
  estimated: z.literal(true),
  total: UsageRecordSchema,
  /** Days with usage, oldest first. */
  days: z.array(UsageDaySchema),
});
export type ProjectUsageResponse = z.infer<typeof ProjectUsageResponseSchema>;

export const usageRoute = (projectId: string, q: UsageQuery = {}): string => {
  const params = new URLSearchParams();
  if (q.from) params.set('from', q.from);
  if (q.to) params.set('to', q.to);
  const qs = params.toString();
  return `/v1/projects/${encodeURIComponent(projectId)}/usage${qs ? `?${qs}` : ''}`;
};
