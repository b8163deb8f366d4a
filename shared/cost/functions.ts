/**
 * What a function is billed for per second: its memory (from the topology, as terraform deploys it)
 * and its vCPUs (terraform gives every stage function `available_cpu = "1"`; the others get Cloud
 * Run's default for their memory, below one vCPU).
 */
import { topology } from '../topology.js';
import { functionUnits, type Units } from './usage.js';

/** vCPUs of the functions terraform sets explicitly (terraform/functions.tf `available_cpu`). */
const VCPU: Readonly<Record<string, number>> = { api: 1, ocr: 1, embed: 1, summarize: 1, transcribe: 1 };

/** Cloud Run's default CPU for a function's memory when none is set (Cloud Run functions defaults). */
function defaultVcpu(memoryMb: number): number {
  if (memoryMb <= 128) return 0.083;
  if (memoryMb <= 256) return 0.167;
  if (memoryMb <= 512) return 0.333;
  if (memoryMb <= 1024) return 0.583;
  if (memoryMb <= 2048) return 1;
  return 2;
}

/** The function units of one request of `functionName` that took `wallMs`. */
export function functionUsage(functionName: string, wallMs: number): Units {
  const memoryMb = topology.functions.find((f) => f.name === functionName)?.memoryMb ?? 256;
  return functionUnits(wallMs, memoryMb, VCPU[functionName] ?? defaultVcpu(memoryMb));
}
