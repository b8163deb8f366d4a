/**
 * Agents: named processing profiles of a project (`projects/{p}/agents/{agentId}`) that jobs run
 * with. Each has a type and a configuration validated for that type; every change to it makes a new
 * version (kept in `…/agents/{agentId}/versions/{n}`), and a job records the version it ran.
 */
import { z } from 'zod';
import { AgentIdSchema, VOICE_NAME } from './settings.js';
import { LimitSchema, PageTokenSchema } from './pagination.js';

export { AgentIdSchema };

export const AGENT_TYPES = ['ocr', 'summary', 'tts', 'chunking'] as const;
export type AgentType = (typeof AGENT_TYPES)[number];
export const AGENT_STATUSES = ['active', 'inactive'] as const;

/** Tesseract language codes (`eng`, `fra`, `chi_sim`). */
export const OcrConfigSchema = z.object({ languages: z.array(z.string().regex(/^[a-z]{3}(?:_[a-z]{3,5})?$/, 'a tesseract language code such as eng or chi_sim')).min(1).max(8) }).strict();
export const SummaryConfigSchema = z
  .object({
    length: z.enum(['short', 'medium', 'long']).default('medium'),
    /** Extra instructions for the generative engine (ignored by the extractive local one). */
    prompt: z.string().max(2000).nullable().default(null),
  })
  .strict();
export const TtsConfigSchema = z.object({ voice: z.string().regex(VOICE_NAME, 'a voice name such as flite-kal16'), speakingRate: z.number().min(0.25).max(4).default(1) }).strict();
export const ChunkingConfigSchema = z
  .object({ chunkSize: z.number().int().min(200).max(8000), overlap: z.number().int().min(0).max(2000).default(0) })
  .strict()
  .refine((c) => c.overlap < c.chunkSize, { message: 'overlap must be smaller than chunkSize', path: ['overlap'] });

export const AGENT_CONFIG_SCHEMAS = { ocr: OcrConfigSchema, summary: SummaryConfigSchema, tts: TtsConfigSchema, chunking: ChunkingConfigSchema } as const satisfies Record<AgentType, z.ZodType>;

const NameSchema = z.string().trim().min(1).max(100).refine((s) => !/\p{Cc}/u.test(s), 'name must not contain control characters');
const DescriptionSchema = z.string().max(2000);

const common = { name: NameSchema, description: DescriptionSchema.default(''), status: z.enum(AGENT_STATUSES).default('active') };

export const CreateAgentRequestSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ocr'), config: OcrConfigSchema, ...common }).strict(),
  z.object({ type: z.literal('summary'), config: SummaryConfigSchema, ...common }).strict(),
  z.object({ type: z.literal('tts'), config: TtsConfigSchema, ...common }).strict(),
  z.object({ type: z.literal('chunking'), config: ChunkingConfigSchema, ...common }).strict(),
]);

/** A change: config is checked against the agent's (unchangeable) type by the route. */
export const UpdateAgentRequestSchema = z
  .object({ name: NameSchema.optional(), description: DescriptionSchema.optional(), config: z.record(z.string(), z.unknown()).optional() })
  .strict()
  .refine((p) => p.name !== undefined || p.description !== undefined || p.config !== undefined, 'nothing to change: give name, description and/or config');

export const AgentSchema = z.object({
  id: z.string(),
  projectId: z.string(),
  type: z.enum(AGENT_TYPES),
  name: z.string(),
  description: z.string(),
  status: z.enum(AGENT_STATUSES),
  config: z.record(z.string(), z.unknown()),
  /** Starts at 1; every change of name, description, config or status adds one. */
  version: z.number().int().min(1),
  createdBy: z.string(),
  updatedBy: z.string(),
  createdAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
});
export type Agent = z.infer<typeof AgentSchema>;

export const ListAgentsQuerySchema = z.object({ type: z.enum(AGENT_TYPES).optional(), status: z.enum(AGENT_STATUSES).optional(), limit: LimitSchema, pageToken: PageTokenSchema.optional() });
export const ListAgentsResponseSchema = z.object({ agents: z.array(AgentSchema), nextPageToken: z.string().nullable() });
