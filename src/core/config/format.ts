/** Human-readable rendering of configuration problems. */
import type { ConfigIssue } from './types.ts';

/**
 * One line per issue: `config/channels/acme-wa.yaml:7 accessToken: environment variable WA_TOKEN
 * is not set`. Issues never carry secret values, so this only arranges them.
 */
export function formatIssues(issues: ReadonlyArray<ConfigIssue>): string {
  return issues
    .map((issue) => {
      const where = issue.line === null ? issue.file : `${issue.file}:${issue.line}`;
      return issue.path === '' ? `${where} ${issue.message}` : `${where} ${issue.path}: ${issue.message}`;
    })
    .join('\n');
}
