// A WASI command in TypeScript: prints its declared env and arguments, reads a file from the
// image, and exits with a code. rolldown bundles it with strip-bom (an npm package pinned by
// package-lock.json) and strips the types; componentize-js makes the component. `wasi:`
// imports are the WASI 0.2 interfaces of the recipe's world (wasi:cli/imports).
import { getArguments, getEnvironment } from "wasi:cli/environment@0.2.12";
import { exitWithCode } from "wasi:cli/exit@0.2.12";
import { getDirectories } from "wasi:filesystem/preopens@0.2.12";
import stripBom from "strip-bom";

type Descriptor = ReturnType<typeof getDirectories>[number][0];

function readText(root: Descriptor, path: string): string {
  const file = root.openAt({ symlinkFollow: true }, path, {}, { read: true });
  const [bytes] = file.read(file.stat().size, 0n);
  return stripBom(new TextDecoder().decode(bytes));
}

export const run = {
  run(): void {
    const env = getEnvironment().map(([k, v]) => `${k}=${v}`).sort();
    console.log(`env: ${env.join(" ")}`);
    const args = getArguments().slice(1);
    console.log(`args: ${args.join(" ")}`);
    // WASI has no absolute paths of its own: the image root is the preopen "/" (wasmbuild run)
    const root = getDirectories().find(([, name]) => name === "/" || name === ".");
    if (root === undefined) {
      console.error("no preopened directory for the image root");
      exitWithCode(3);
      return;
    }
    console.log(readText(root[0], "etc/greeting.txt").trimEnd());
    if (args[0] === "fail") exitWithCode(7);
  },
};
