/**
 * The price table: list prices per unit (USD) the estimated cost of a job is computed with. The
 * bundled table is `prices.json` (each line names the Google pricing page it comes from);
 * `SCRIPTORIUM_PRICE_TABLE` (a path to a JSON file, or the JSON itself) replaces it, validated here.
 * A replacement may list only some units: the others keep the bundled prices.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import bundled from './prices.json' with { type: 'json' };
import { isUsageUnit, round6, type Units, type UsageUnit } from './usage.js';

const PriceLineSchema = z.object({
  /** Price in USD for `per` units (so `$1.50 per 1,000 pages` is `{usd: 1.5, per: 1000}`). */
  usd: z.number().min(0),
  per: z.number().positive().default(1),
  source: z.string().optional(),
  detail: z.string().optional(),
});

export const PriceTableSchema = z.object({
  id: z.string().min(1),
  currency: z.literal('USD').default('USD'),
  note: z.string().optional(),
  units: z.record(z.string(), PriceLineSchema).refine((u) => Object.keys(u).every(isUsageUnit), { message: 'unknown unit name (see shared/cost/usage.ts USAGE_UNITS)' }),
});
export type PriceTable = z.infer<typeof PriceTableSchema>;

/** Price of one unit, in USD. */
export function unitPrice(table: PriceTable, unit: UsageUnit): number {
  const line = table.units[unit];
  return line ? line.usd / line.per : 0;
}

export interface Priced {
  readonly costUsd: Units;
  readonly totalUsd: number;
}

/** Units × unit prices, per line and in total (USD, rounded to a millionth of a cent per line). */
export function priceUnits(units: Units, table: PriceTable): Priced {
  const costUsd: Units = {};
  let totalUsd = 0;
  for (const [unit, qty] of Object.entries(units) as [UsageUnit, number][]) {
    const cost = Math.round(qty * unitPrice(table, unit) * 1e8) / 1e8;
    if (cost === 0) continue;
    costUsd[unit] = cost;
    totalUsd += cost;
  }
  return { costUsd, totalUsd: Math.round(totalUsd * 1e8) / 1e8 };
}

export const BUNDLED_PRICES: PriceTable = PriceTableSchema.parse(bundled);

/**
 * Parses `SCRIPTORIUM_PRICE_TABLE`: JSON text (starts with `{`) or a file path. Lines it lists
 * replace the bundled ones. Throws with the reason when it is not a valid table.
 */
export function parsePriceTable(value: string | undefined, base: PriceTable = BUNDLED_PRICES): PriceTable {
  if (value === undefined || value.trim() === '') return base;
  const text = value.trim().startsWith('{') ? value : readFileSync(value, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`price table is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = PriceTableSchema.safeParse(json);
  if (!parsed.success) throw new Error(`invalid price table: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return { ...parsed.data, units: { ...base.units, ...parsed.data.units } };
}

/** For money shown to people: `$0.018`, `$0.000042`, `$12.35`. */
export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  if (Math.abs(usd) >= 1) return `$${usd.toFixed(2)}`;
  return `$${round6(usd).toFixed(6).replace(/0+$/, '').replace(/\.$/, '')}`;
}

let cached: { readonly value: string | undefined; readonly table: PriceTable } | undefined;

/**
 * The process's price table: `SCRIPTORIUM_PRICE_TABLE` over the bundled one, parsed once (the config
 * schema in shared/config has already refused an invalid value at start-up).
 */
export function currentPriceTable(env: Readonly<Record<string, string | undefined>> = process.env): PriceTable {
  const value = env.SCRIPTORIUM_PRICE_TABLE;
  if (cached && cached.value === value) return cached.table;
  const table = parsePriceTable(value);
  cached = { value, table };
  return table;
}
