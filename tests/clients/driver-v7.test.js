'use strict';
// The official MongoDB Node.js driver, 7.x line (npm alias mongodb7), against redhive.
require('./scenarios/driver-scenario').runDriverScenario('mongodb7');
