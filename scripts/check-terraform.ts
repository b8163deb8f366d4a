/**
 * `node --import tsx scripts/check-terraform.ts [terraform-dir]`: checks that terraform is
 * `terraform fmt` clean and declares exactly what `shared/topology.ts` declares. Prints every
 * discrepancy and exits 1 if there is any. This is all that can be checked offline: no provider
 * can be downloaded, so `terraform validate` and `plan` are out of reach here.
 */
import { checkTerraform, findTerraformDir, terraformFmtCheck } from '../shared/topology-terraform.js';

/** Runs both checks on `dir` and returns the process exit code. */
async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const dir = argv[0] ?? findTerraformDir();
  let failed = false;

  const fmt = terraformFmtCheck(dir);
  if (!fmt.available) {
    // Not a pass: without the binary nobody has checked formatting.
    console.error(`terraform fmt: terraform is not installed (${fmt.output})`);
    failed = true;
  } else if (!fmt.ok) {
    console.error(`terraform fmt -check: these files need \`terraform fmt\`:\n${fmt.output.trim()}`);
    failed = true;
  } else {
    console.log('terraform fmt -check: ok');
  }

  const problems = await checkTerraform(dir);
  if (problems.length > 0) {
    console.error(`terraform and shared/topology.ts disagree (${problems.length}):`);
    for (const p of problems) console.error(`  - ${p}`);
    failed = true;
  } else {
    console.log('terraform matches shared/topology.ts');
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
