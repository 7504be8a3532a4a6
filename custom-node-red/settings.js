'use strict';
/**
 * Node-RED settings for one redhive tenant. Everything comes from the environment; see README.md.
 *
 *   node --max-old-space-size=$(node heap.js "$REDHIVE_MEMORY_LIMIT_MB") \
 *        .../node_modules/node-red/red.js --settings /path/to/custom-node-red/settings.js
 *
 * Refuses to load (Node-RED exits) without APP_NAME, MONGO_URL and NODE_RED_CREDENTIAL_SECRET.
 */
module.exports = require('./lib/build-settings').buildSettings(process.env);
