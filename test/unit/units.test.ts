import { describe, expect, it } from 'vitest';
import { formatBitRate, formatBytes, parseQuantity, rateToBitsPerSecond } from '../../src/parse/units.js';

describe('parseQuantity', () => {
  it.each([
    ['0b', 0, 'bits'],
    ['799b', 799, 'bits'],
    ['4.50Kb', 4.5 * 1024, 'bits'],
    ['720Kb', 720 * 1024, 'bits'],
    ['1.08Mb', 1.08 * 1024 ** 2, 'bits'],
    ['9.42Gb', 9.42 * 1024 ** 3, 'bits'],
    ['1.00Tb', 1024 ** 4, 'bits'],
    ['0B', 0, 'bytes'],
    ['901KB', 901 * 1024, 'bytes'],
    ['1.08MB', 1.08 * 1024 ** 2, 'bytes'],
    ['3.5GB', 3.5 * 1024 ** 3, 'bytes'],
  ])('reads %s with K = 1024', (raw, value, unit) => {
    const q = parseQuantity(raw);
    expect(q?.unit).toBe(unit);
    expect(q?.value).toBeCloseTo(value, 6);
  });

  it.each(['', 'Kb', '1.2.3Kb', '12', '12kb', '12Pb', '-1b', '1e5b', 'NaNb', ' 1b', '1 b', '12Kbit'])(
    'rejects %j without throwing',
    (raw) => {
      expect(parseQuantity(raw)).toBeUndefined();
    },
  );

  it('converts byte rates (-B) to bits/s', () => {
    expect(rateToBitsPerSecond({ value: 1000, unit: 'bytes' })).toBe(8000);
    expect(rateToBitsPerSecond({ value: 1000, unit: 'bits' })).toBe(1000);
  });
});

describe('human units', () => {
  it('formats with binary prefixes named as such', () => {
    expect(formatBitRate(0)).toBe('0 bit/s');
    expect(formatBitRate(822400)).toBe('803 Kibit/s');
    expect(formatBitRate(1.5 * 1024 ** 2)).toBe('1.50 Mibit/s');
    expect(formatBytes(1132462)).toBe('1.08 MiB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(20 * 1024 ** 3)).toBe('20.0 GiB');
  });
});
