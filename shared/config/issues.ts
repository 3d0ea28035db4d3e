/** One problem found in a configuration, at the path that holds it. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Validation collects every problem before reporting, so one run shows them all. */
export class IssueList {
  readonly items: ConfigIssue[] = [];
  add(path: string, message: string): void {
    this.items.push({ path, message });
  }
  get empty(): boolean {
    return this.items.length === 0;
  }
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(`${source}: ${issues.length} problem${issues.length === 1 ? "" : "s"}\n${formatIssues(issues)}`);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `  ${i.path}: ${i.message}`).join("\n");
}
