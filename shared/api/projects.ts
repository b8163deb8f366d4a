/** HTTP contracts of projects and their members (`/v1/projects…`). */
import { z } from 'zod';
import { ProjectIdSchema, UidSchema } from '../ids.js';
import { ROLES } from '../firestore/paths.js';
import { LimitSchema, PageTokenSchema } from './pagination.js';

export const ProjectNameSchema = z.string().trim().min(1).max(100).refine((s) => !/\p{Cc}/u.test(s), 'name must not contain control characters');
export const ProjectDescriptionSchema = z.string().max(2000);

export const CreateProjectRequestSchema = z
  .object({
    /** Optional: a readable id (a-z, 0-9, -); generated from the name otherwise. */
    id: ProjectIdSchema.optional(),
    name: ProjectNameSchema,
    description: ProjectDescriptionSchema.default(''),
  })
  .strict();

export const UpdateProjectRequestSchema = z
  .object({ name: ProjectNameSchema.optional(), description: ProjectDescriptionSchema.optional() })
  .strict()
  .refine((p) => p.name !== undefined || p.description !== undefined, 'nothing to change: give name and/or description');

export const ProjectSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  ownerUid: z.string(),
  createdAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
});
export type Project = z.infer<typeof ProjectSchema>;

/** A project as listed for the caller: with the caller's role in it. */
export const ProjectListItemSchema = ProjectSchema.extend({ role: z.enum(ROLES) });

export const ListProjectsQuerySchema = z.object({ limit: LimitSchema, pageToken: PageTokenSchema.optional() });
export const ListProjectsResponseSchema = z.object({ projects: z.array(ProjectListItemSchema), nextPageToken: z.string().nullable() });

export const DeleteProjectQuerySchema = z.object({ force: z.enum(['true', 'false']).default('false') });

export const MemberViewSchema = z.object({
  uid: z.string(),
  projectId: z.string(),
  role: z.enum(ROLES),
  email: z.string().nullable(),
  addedAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
});
export type MemberView = z.infer<typeof MemberViewSchema>;

export const PutMemberRequestSchema = z.object({ role: z.enum(ROLES), email: z.string().email().max(320).optional() }).strict();
export const ListMembersQuerySchema = ListProjectsQuerySchema;
export const ListMembersResponseSchema = z.object({ members: z.array(MemberViewSchema), nextPageToken: z.string().nullable() });

export { UidSchema };
