export function writeReport(_resultsDir: string, outDir: string): string {
  return outDir;
}
