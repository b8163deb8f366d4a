/**
 * Video translation benchmark on the running local stack (`npm start`, or the test stack with
 * SCRIPTORIUM_LOCAL_CONFIG): makes an English video of about `--seconds` (the LibriVox fixtures over
 * a still picture), uploads it with `translate: {to}` and reports the end-to-end time (upload request
 * to COMPLETED), each stage's time and the job's Firestore writes (its own meter). A figure, not a
 * timed test.
 *
 *   node dist/scripts/bench-video.js [--seconds 60] [--to es] [--runs 1]
 */
import { parseArgs } from 'node:util';
import { CreateUploadResponseSchema } from '../shared/api/contracts.js';
import { api, putSigned, signIn, waitForJob } from './lib/stack-client.js';
import { readLocalConfig } from '../emulators/local-config.js';
import { makeTestVideo } from './lib/test-video.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, to: { type: 'string', default: 'es' }, runs: { type: 'string', default: '1' } } });
const cfg = readLocalConfig();
const token = await signIn(cfg);
const video = await makeTestVideo(0, Number(values.seconds));
console.log(`video: ${video.durationSeconds.toFixed(1)} s, ${video.body.length} bytes`);
for (let run = 1; run <= Number(values.runs); run++) {
  const started = performance.now();
  const res = await api(cfg, token, 'POST', '/v1/uploads', { projectId: cfg.projectId, fileName: `bench-${run}.mp4`, contentType: 'video/mp4', size: video.body.length, translate: { to: values.to } });
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${res.text}`);
  const upload = CreateUploadResponseSchema.parse(res.json);
  const waiting = waitForJob(cfg, upload.jobId, 900_000);
  const put = await putSigned(upload, video.body);
  if (!put.ok) throw new Error(`PUT ${put.status}`);
  const { job } = await waiting;
  const total = (performance.now() - started) / 1000;
  const stageTimes = Object.fromEntries(
    Object.entries(job.stages).map(([n, s]) => [n, s.startedAt && s.finishedAt ? Number(((Date.parse(s.finishedAt) - Date.parse(s.startedAt)) / 1000).toFixed(1)) : null]),
  );
  console.log(JSON.stringify({ run, status: job.status, error: job.error?.code ?? null, videoSeconds: Number(video.durationSeconds.toFixed(1)), endToEndSeconds: Number(total.toFixed(1)), realTimeFactor: Number((total / video.durationSeconds).toFixed(2)), stageSeconds: stageTimes, firestoreWrites: job.metrics.firestoreWrites ?? null, metrics: job.metrics }));
}
process.exit(0);
