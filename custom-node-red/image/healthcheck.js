'use strict';
// HEALTHCHECK of the redhive tenant image: exit 0 when the editor answers GET / with 200.
// `node healthcheck.js`; the port is $PORT (settings.js's uiPort), default 1880.
const http = require('node:http');

const port = Number(process.env.PORT) || 1880;
const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 4000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (err) => {
  console.error(`healthcheck: ${err.message}`);
  process.exit(1);
});
