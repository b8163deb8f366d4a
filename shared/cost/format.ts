/** Usage as people read it: one line per unit with its quantity and estimated cost, then the total. */
import { formatUsd } from './prices.js';
import { isUsageUnit, USAGE_UNITS, UNIT_NAMES, type UsageRecord } from './usage.js';

/** A quantity: integers as is, fractions to 3 decimals (GiB-seconds, vCPU-seconds). */
function formatQty(q: number): string {
  return Number.isInteger(q) ? String(q) : q.toFixed(3);
}

/** `  OCR pages                    12      $0.018` lines, known units in their order, then unknown ones, then the total. */
export function formatUsage(record: UsageRecord, indent = ''): string {
  const names = [...UNIT_NAMES.filter((u) => record.units[u] !== undefined), ...Object.keys(record.units).filter((u) => !isUsageUnit(u))];
  const rows = names.map((u) => [isUsageUnit(u) ? USAGE_UNITS[u] : u, formatQty(record.units[u] ?? 0), formatUsd(record.costUsd[u] ?? 0)] as const);
  rows.push(['total', '', formatUsd(record.totalUsd)]);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return rows.map(([a, b, c]) => `${indent}${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}\n`).join('');
}
