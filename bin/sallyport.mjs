#!/usr/bin/env node
// The `sallyport` command. In a checkout it runs the TypeScript sources through tsx (a
// devDependency), so an edit takes effect at once; the packed package ships no sources, only the
// JavaScript cli/build.ts made at pack time, and runs that with no loader. The sources decide:
// a dist/ left over from an earlier `npm pack` in a checkout is never run in their place.
import { existsSync } from "node:fs";

const sources = new URL("../cli/main.ts", import.meta.url);
if (existsSync(sources)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(sources.href);
} else {
  await import("../dist/cli/main.js");
}
