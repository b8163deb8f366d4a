/** Jobs: a job's record (status, stages, progress, result). */
import { HttpError } from '../../../shared/errors/index.js';
import { JOB_ID } from '../../../shared/ids.js';
import { idGroup, jsonWithEtag, type Route } from '../http.js';

export const jobRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^/v1/jobs/${idGroup('id', JOB_ID)}$`),
    methods: {
      GET: async ({ caller, deps, params }) => {
        const job = await deps.jobs.get(params.id ?? '');
        if (!job || (await deps.projects.roleOf(job.projectId, caller.uid)) === null) throw new HttpError(404, 'NOT_FOUND', 'no such job');
        return jsonWithEtag(job);
      },
    },
  },
];
