'use strict';
/**
 * V8 heap cap for a tenant's Node-RED process.
 *
 * settings.js cannot set it (V8 reads --max-old-space-size before any JavaScript runs), so the
 * runtime launcher passes it on the node command line:
 *
 *   node --max-old-space-size=$(node custom-node-red/heap.js "$REDHIVE_MEMORY_LIMIT_MB") \
 *        node_modules/node-red/red.js --settings custom-node-red/settings.js ...
 *
 * or from JavaScript: `require('./heap').nodeArgs(process.env)` → ['--max-old-space-size=384'].
 *
 * The cap is three quarters of the container's memory limit (the rest is left for V8's
 * new space, code, native buffers and npm child processes), rounded down to whole MiB, and at
 * least MIN_HEAP_MB. Without a (valid, positive) limit there is no cap: null / [].
 */

const HEAP_FRACTION = 0.75;
const MIN_HEAP_MB = 64;

/** @returns {number|null} the --max-old-space-size value (MiB) for a memory limit in MiB */
function maxOldSpaceSize(memoryLimitMb) {
  if (memoryLimitMb === undefined || memoryLimitMb === null || memoryLimitMb === '') return null;
  const limit = Number(memoryLimitMb);
  if (!Number.isFinite(limit) || limit <= 0) return null;
  return Math.max(MIN_HEAP_MB, Math.floor(limit * HEAP_FRACTION));
}

/** Node command-line flags for an environment holding REDHIVE_MEMORY_LIMIT_MB. */
function nodeArgs(env = process.env) {
  const v = maxOldSpaceSize(env.REDHIVE_MEMORY_LIMIT_MB);
  return v === null ? [] : [`--max-old-space-size=${v}`];
}

module.exports = maxOldSpaceSize;
module.exports.maxOldSpaceSize = maxOldSpaceSize;
module.exports.nodeArgs = nodeArgs;
module.exports.HEAP_FRACTION = HEAP_FRACTION;
module.exports.MIN_HEAP_MB = MIN_HEAP_MB;

if (require.main === module) {
  // `node heap.js 512` (or REDHIVE_MEMORY_LIMIT_MB=512 node heap.js) prints 384; prints nothing
  // when there is no limit.
  const v = maxOldSpaceSize(process.argv[2] ?? process.env.REDHIVE_MEMORY_LIMIT_MB);
  if (v !== null) process.stdout.write(`${v}\n`);
}
