// BullMQ with its defaults against HOST PORT: a Queue adds 20 jobs, a
// Worker runs them, QueueEvents (a blocking XREAD on the queue's events
// stream) hears every `completed` with its return value; then the job
// counts, a job's stored state and return value, and obliterate.
// Exits non-zero naming what failed.
'use strict';
const { Queue, Worker, QueueEvents, Job } = require('bullmq');

const host = process.argv[2] || '127.0.0.1';
const port = Number(process.argv[3] || 6379);
const connection = { host, port };
const JOBS = 20;
const name = `petrel-bullmq-${process.pid}`;

function fail(what) {
  console.error(`bullmq: ${what}`);
  process.exit(1);
}

async function main() {
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();
  const queue = new Queue(name, { connection });
  const completed = new Map();
  const allHeard = new Promise((resolve) => {
    events.on('completed', ({ jobId, returnvalue }) => {
      completed.set(jobId, returnvalue);
      if (completed.size === JOBS) resolve();
    });
  });
  const worker = new Worker(name, async (job) => ({ doubled: job.data.n * 2 }), { connection });
  worker.on('error', (e) => fail(`worker error: ${e.stack || e}`));
  worker.on('failed', (job, e) => fail(`job ${job && job.id} failed: ${e.stack || e}`));

  const jobs = [];
  for (let n = 0; n < JOBS; n++) jobs.push(await queue.add('double', { n }));
  const timer = setTimeout(
    () => fail(`timed out: QueueEvents heard ${completed.size} of ${JOBS} completions`),
    60000,
  );
  await allHeard;
  clearTimeout(timer);

  for (const job of jobs) {
    const heard = completed.get(job.id);
    const value = typeof heard === 'string' ? JSON.parse(heard) : heard;
    if (!value || value.doubled !== job.data.n * 2) {
      fail(`job ${job.id} (n=${job.data.n}) completed with ${JSON.stringify(heard)}`);
    }
    const stored = await Job.fromId(queue, job.id);
    const state = await stored.getState();
    if (state !== 'completed' || stored.returnvalue.doubled !== job.data.n * 2) {
      fail(`job ${job.id} is ${state} with ${JSON.stringify(stored.returnvalue)}`);
    }
  }
  const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed');
  if (counts.completed !== JOBS || counts.failed + counts.waiting + counts.active + counts.delayed !== 0) {
    fail(`job counts ${JSON.stringify(counts)}`);
  }
  await worker.close();
  await events.close();
  await queue.obliterate({ force: true });
  const left = await queue.getJobCounts('completed');
  if (left.completed !== 0) fail(`obliterate left ${JSON.stringify(left)}`);
  await queue.close();
  console.log(`bullmq: ${JOBS} jobs completed and heard by QueueEvents ${JSON.stringify(counts)}`);
}

main().catch((e) => fail(e.stack || String(e)));
