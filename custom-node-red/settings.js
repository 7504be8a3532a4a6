'use strict';
/**
 * Node-RED settings for one redhive tenant. Everything comes from the environment; see README.md.
 *
 *   node .../node_modules/node-red/red.js --settings /path/to/custom-node-red/settings.js
 *
 * (image/entrypoint.sh adds the heap cap and the userDir.)
 *
 * Refuses to load (Node-RED exits) without APP_NAME, MONGO_URL and NODE_RED_CREDENTIAL_SECRET.
 */
module.exports = require('./lib/build-settings').buildSettings(process.env);
