'use strict';
// The official MongoDB Node.js driver, 6.x line (npm alias mongodb6), against redhive.
require('./scenarios/driver-scenario').runDriverScenario('mongodb6');
