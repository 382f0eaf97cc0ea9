#!/usr/bin/env node
// `npm start`: the first README command. Checks Node, installs dependencies when they are missing or stale
// (scripts/bootstrap.cjs), then hands over to the TypeScript dev stack launcher (scripts/dev-stack.ts), which
// provisions and starts everything else.
'use strict';

const path = require('node:path');
const { checkNode, ensureDependencies, run } = require('./bootstrap.cjs');

checkNode();
ensureDependencies();
run(path.join('scripts', 'dev-stack.ts'), process.argv.slice(2)).then((code) => process.exit(code));
