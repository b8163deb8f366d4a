/** Jobs: a job's record (status, stages, progress, result). */
import { HttpError } from '../../../shared/errors/index.js';
import { JOB_ID } from '../../../shared/ids.js';
import { JobSchema } from '../../../shared/jobs/model.js';
import { idGroup, jsonWithEtag, type Route } from '../http.js';

export const jobRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^/v1/jobs/${idGroup('id', JOB_ID)}$`),
    path: '/v1/jobs/{id}',
    docs: { GET: { tag: 'jobs', summary: 'A job: status, stage, progress, stages, result, error', response: JobSchema } },
    methods: {
      GET: async ({ caller, deps, params }) => {
        const job = await deps.jobs.get(params.id ?? '');
        if (!job || (await deps.projects.roleOf(job.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such job');
        return jsonWithEtag(job);
      },
    },
  },
];
