/**
 * The connector as one executable file (Node's single executable applications):
 * `sallyport-connector [connector options]` is `sallyport connector [options]`, and `--version`
 * prints the version. `tsx cli/build.ts --sea` bundles this file with every dependency into one
 * CommonJS script and injects it into a copy of Node, so the host needs neither Node nor npm.
 * Only the connector: `dev` needs workerd, and the other commands come with the npm package.
 */
import { packageVersion } from "./shipped.ts";
import { run } from "./commands/connector.ts";
import { finish } from "./finish.ts";

async function main(args: string[]): Promise<number> {
  // `sallyport-connector connector --config …` too, so a unit written for `sallyport` runs it as is.
  const argv = args[0] === "connector" ? args.slice(1) : args;
  if (argv[0] === "--version" || argv[0] === "-V") {
    process.stdout.write(`${await packageVersion()}\n`);
    return 0;
  }
  return run(argv);
}

finish(main(process.argv.slice(2)));
