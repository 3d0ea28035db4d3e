import { access } from "node:fs/promises";

/** Whether something is at `path` (for "would overwrite" checks before a command writes files). */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
