import { SETTINGS } from './schema.js';

/** The README's settings table, generated from the schema's documentation. */
export function settingsTable(): string {
  const rows = Object.values(SETTINGS).map((s) => {
    const names = [s.env, ...(s.aliases ?? [])].map((n) => `\`${n}\``).join(' / ');
    const cell = (t: string) => t.replaceAll('|', '\\|');
    return `| ${names} | ${cell(s.default)} | ${cell(s.description)}${s.secret ? ' Never logged.' : ''} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
