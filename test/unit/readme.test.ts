import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { settingsTable } from '../../src/config/settings-table.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** A markdown table without the column padding prettier adds. */
function normalize(markdown: string): string {
  return markdown
    .split('\n')
    .map((l) =>
      l
        .trim()
        .replace(/\s*\|\s*/g, '|')
        .replace(/-{3,}/g, '---'),
    )
    .join('\n');
}

describe('README', () => {
  it('holds the settings table as the schema documents it (npm run docs:settings)', () => {
    expect(normalize(README)).toContain(normalize(settingsTable()));
  });
});
