#!/usr/bin/env bash
# Rewrites the settings table in README.md from the schema (npm run docs:settings), then formats it.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build
table=$(npm run -s docs:settings)
node_modules/.bin/node - "$table" <<'JS'
const fs = require('node:fs');
const lines = fs.readFileSync('README.md', 'utf8').split('\n');
const start = lines.findIndex((l) => l.startsWith('| Variable'));
let end = start;
while (end < lines.length && lines[end].startsWith('|')) end++;
lines.splice(start, end - start, ...process.argv[2].trim().split('\n'));
fs.writeFileSync('README.md', lines.join('\n'));
JS
npx prettier --write README.md >/dev/null
