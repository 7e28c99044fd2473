import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { settingsTable } from '../../src/config/settings-table.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('holds the settings table exactly as the schema documents it (npm run docs:settings)', () => {
    expect(README).toContain(settingsTable());
  });
});
