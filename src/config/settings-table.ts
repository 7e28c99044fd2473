import { SETTINGS, settingDefault, type SettingName } from './schema.js';

/** The README's settings table, generated from the schema and its documentation. */
export function settingsTable(): string {
  const rows = (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const s = SETTINGS[name];
    const names = [s.env, ...(s.aliases ?? [])].map((n) => `\`${n}\``).join(' / ');
    const cell = (t: string) => t.replaceAll('|', '\\|');
    return `| ${names} | ${cell(settingDefault(name))} | ${cell(s.description)}${s.secret ? ' Never logged.' : ''} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
